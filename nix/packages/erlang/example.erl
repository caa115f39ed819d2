main(_Args) ->
    Name = case io:get_line("") of
        eof -> "";
        Line -> string:trim(Line, trailing, "\r\n")
    end,
    io:format("Hello, ~ts!~n", [Name]).
