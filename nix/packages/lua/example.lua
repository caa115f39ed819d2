local name = io.read("l") or ""
print("Hello, " .. name .. "!")
