const { readStdin, readText } = require("./foo");

if (readStdin() !== "stdin") {
  process.exit(1);
}

const args = process.argv.slice(2);
if (args.length !== 3) {
  process.exit(2);
}
["foo", "bar", "baz"].forEach((wanted, index) => {
  if (args[index] !== wanted) {
    process.exit(3 + index);
  }
});

if (readText("test.txt") !== "hello world") {
  process.exit(6);
}

console.log("OK");
