let name = stdin.readLine()
echo "Hello, ", name, "!"
