(* Helpers of the conformance program. *)

(* Everything left on a channel. *)
let read_channel channel =
  let buffer = Buffer.create 64 in
  (try
     while true do
       Buffer.add_channel buffer channel 1
     done
   with End_of_file -> ());
  Buffer.contents buffer

(* The content of a file, or None if it cannot be opened. *)
let read_file path =
  match open_in_bin path with
  | channel ->
      let text = read_channel channel in
      close_in channel;
      Some text
  | exception Sys_error _ -> None

let expected_args = [ "foo"; "bar"; "baz" ]
