let name = readLine() ?? ""
print("Hello, \(name)!")
