const fs = require("fs");

// Everything on stdin as text (file descriptor 0).
function readStdin() {
  return fs.readFileSync(0, "utf8");
}

// The text of a file, or null when it cannot be read.
function readText(path) {
  try {
    return fs.readFileSync(path, "utf8");
  } catch (error) {
    return null;
  }
}

module.exports = { readStdin, readText };
