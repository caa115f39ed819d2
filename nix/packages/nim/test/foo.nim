## Helpers of the conformance program.

proc readFileOrNil*(path: string): ref string =
  ## The content of a file, or nil if it cannot be read.
  try:
    result = new string
    result[] = readFile(path)
  except IOError:
    result = nil

const expectedArgs* = ["foo", "bar", "baz"]
