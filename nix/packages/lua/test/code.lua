local foo = require("foo")

if foo.read_stdin() ~= "stdin" then
  os.exit(1)
end

if #arg ~= 3 then
  os.exit(2)
end
for index, wanted in ipairs({ "foo", "bar", "baz" }) do
  if arg[index] ~= wanted then
    os.exit(2 + index)
  end
end

if foo.read_file("test.txt") ~= "hello world" then
  os.exit(6)
end

print("OK")
