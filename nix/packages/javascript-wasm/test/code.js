const { readText } = require("./foo");

if (readStdin() !== "stdin") {
  exit(1);
}

if (scriptArgs.length !== 3) {
  exit(2);
}
["foo", "bar", "baz"].forEach((wanted, index) => {
  if (scriptArgs[index] !== wanted) {
    exit(3 + index);
  }
});

if (readText("test.txt") !== "hello world") {
  exit(6);
}

console.log("OK");
