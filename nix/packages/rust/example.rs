use std::io::stdin;

fn main() {
    let mut name = String::new();
    stdin().read_line(&mut name).expect("cannot read stdin");
    println!("Hello, {}!", name.trim_end_matches(['\r', '\n']));
}
