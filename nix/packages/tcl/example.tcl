gets stdin name
puts "Hello, $name!"
