require "foo"

exit 1 unless $stdin.read == "stdin"

exit 2 unless ARGV.length == 3
%w[foo bar baz].each_with_index do |wanted, index|
  exit 3 + index unless ARGV[index] == wanted
end

exit 6 unless Foo.read_text("test.txt") == "hello world"

puts "OK"
