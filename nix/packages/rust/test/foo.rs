use std::io::Read;

/// All of stdin, or None if it cannot be read as text.
pub fn read_stdin() -> Option<String> {
    let mut text = String::new();
    std::io::stdin().read_to_string(&mut text).ok()?;
    Some(text)
}

/// The content of a file, or None if it cannot be read.
pub fn read_file(path: &str) -> Option<String> {
    std::fs::read_to_string(path).ok()
}
