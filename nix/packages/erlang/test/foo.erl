-module(foo).
-export([read_stdin/0, read_file/1]).

%% All of standard input as a string.
read_stdin() ->
    read_stdin([]).

read_stdin(Chunks) ->
    case io:get_chars("", 4096) of
        Chunk when is_list(Chunk) -> read_stdin([Chunk | Chunks]);
        _EofOrError -> lists:append(lists:reverse(Chunks))
    end.

%% The content of a file as a string, or an error tuple.
read_file(Path) ->
    case file:read_file(Path) of
        {ok, Binary} -> {ok, unicode:characters_to_list(Binary)};
        {error, _} = Error -> Error
    end.
