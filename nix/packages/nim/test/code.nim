import std/os

import foo

if stdin.readAll() != "stdin":
  quit(1)
if paramCount() != 3:
  quit(2)
for index, expected in expectedArgs:
  if paramStr(index + 1) != expected:
    quit(3 + index)
let content = readFileOrNil("test.txt")
if content == nil or content[] != "hello world":
  quit(6)
echo "OK"
