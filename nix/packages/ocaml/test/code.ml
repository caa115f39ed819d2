let () =
  if Foo.read_channel stdin <> "stdin" then exit 1;
  let args = List.tl (Array.to_list Sys.argv) in
  if List.length args <> 3 then exit 2;
  List.iteri
    (fun index (got, want) -> if got <> want then exit (3 + index))
    (List.combine args Foo.expected_args);
  if Foo.read_file "test.txt" <> Some "hello world" then exit 6;
  print_endline "OK"
