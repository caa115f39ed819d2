import * as fs from "fs";

/** All of stdin (file descriptor 0), as text. */
export function readInput(): string {
  return fs.readFileSync(0, "utf8");
}

export function readText(path: string): string | null {
  try {
    return fs.readFileSync(path, "utf8");
  } catch {
    return null;
  }
}
