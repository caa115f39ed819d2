Code.require_file("foo.exs", __DIR__)

check = fn passed, exit_code ->
  unless passed, do: System.halt(exit_code)
end

check.(Foo.read_stdin() == "stdin", 1)

args = System.argv()
check.(length(args) == 3, 2)

["foo", "bar", "baz"]
|> Enum.zip(args)
|> Enum.with_index(3)
|> Enum.each(fn {{wanted, arg}, exit_code} -> check.(arg == wanted, exit_code) end)

check.(Foo.read_file("test.txt") == {:ok, "hello world"}, 6)

IO.puts("OK")
