%% Conformance program: uses the module foo (foo.erl) for its input.
main(Args) ->
    check(foo:read_stdin() =:= "stdin", 1),
    check(length(Args) =:= 3, 2),
    check_args(Args, ["foo", "bar", "baz"], 3),
    check(foo:read_file("test.txt") =:= {ok, "hello world"}, 6),
    io:format("OK~n").

check(true, _ExitCode) -> ok;
check(false, ExitCode) -> halt(ExitCode).

check_args([], [], _ExitCode) -> ok;
check_args([Arg | Args], [Wanted | Rest], ExitCode) ->
    check(Arg =:= Wanted, ExitCode),
    check_args(Args, Rest, ExitCode + 1).
