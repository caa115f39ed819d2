let () =
  let name = try input_line stdin with End_of_file -> "" in
  Printf.printf "Hello, %s!\n" name
