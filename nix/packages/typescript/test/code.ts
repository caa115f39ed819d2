import { readInput, readText } from "./foo";

function check(): number {
  if (readInput() !== "stdin") {
    return 1;
  }
  const args: string[] = process.argv.slice(2);
  if (args.length !== 3) {
    return 2;
  }
  const wanted: readonly string[] = ["foo", "bar", "baz"];
  for (let index = 0; index < wanted.length; index++) {
    if (args[index] !== wanted[index]) {
      return 3 + index;
    }
  }
  if (readText("test.txt") !== "hello world") {
    return 6;
  }
  return 0;
}

const status: number = check();
if (status !== 0) {
  process.exit(status);
}
console.log("OK");
