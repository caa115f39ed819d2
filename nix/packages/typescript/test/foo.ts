// No type package for Node.js is installed, so its parts are declared here
// (module-scoped, so they do not clash with @types/node where it exists).
declare const require: any;

const fs = require("fs");

export function readStdin(): string {
  return fs.readFileSync(0, "utf8");
}

export function readText(path: string): string | null {
  try {
    return fs.readFileSync(path, "utf8");
  } catch {
    return null;
  }
}
