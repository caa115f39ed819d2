// The text of a file of the run's working directory, or null when it cannot be read.
function readText(path) {
  return readFile(path);
}

module.exports = { readText };
