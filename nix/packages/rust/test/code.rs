mod foo;

use std::process::exit;

fn main() {
    if foo::read_stdin().as_deref() != Some("stdin") {
        exit(1);
    }
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.len() != 3 {
        exit(2);
    }
    for (index, expected) in ["foo", "bar", "baz"].iter().enumerate() {
        if args[index] != *expected {
            exit(3 + index as i32);
        }
    }
    if foo::read_file("test.txt").as_deref() != Some("hello world") {
        exit(6);
    }
    println!("OK");
}
