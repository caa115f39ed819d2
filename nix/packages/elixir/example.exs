name =
  case IO.gets("") do
    line when is_binary(line) -> String.trim_trailing(line, "\n")
    _eof_or_error -> ""
  end

IO.puts("Hello, #{name}!")
