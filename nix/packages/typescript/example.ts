import { readFileSync } from "fs";

const name: string = readFileSync(0, "utf8").split("\n")[0].trim();
console.log(`Hello, ${name}!`);
