local foo = {}

-- All of stdin as a string.
function foo.read_stdin()
  return io.read("a")
end

-- The content of a file, or nil if it cannot be opened.
function foo.read_file(path)
  local handle = io.open(path, "rb")
  if handle == nil then
    return nil
  end
  local content = handle:read("a")
  handle:close()
  return content
end

return foo
