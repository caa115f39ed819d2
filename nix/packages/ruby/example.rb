name = ($stdin.gets || "").chomp
puts "Hello, #{name}!"
