"""Programs as users write them, beyond the conformance programs, in the languages where the way
a program is written decides whether it builds: Java's entry point, TypeScript's Node types, and
C# written for the .NET SDK (implicit usings, top-level statements).

Each program reads all of its stdin, uses its language's common standard library, and prints
something that shows it did; everything through the real daemon.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.sandbox

NUMBERS = "3 1 2\n10\n"


def build_and_run(daemon: Any, environment: str, main: str, *, files: dict[str, str] | None = None,
                  stdin: str = NUMBERS, args: list[str] | None = None) -> dict[str, Any]:
    """POST /run; returns the whole answer (its build must have succeeded)."""
    response = daemon.post("/run", json={
        "build": {"environment": environment,
                  "main_file": {"content": f"{main}\n{comment(environment)} {uuid.uuid4()}\n"},
                  "files": [{"name": n, "content": c} for n, c in (files or {}).items()]},
        "run": {"stdin": stdin, "args": args or []},
    })
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


def comment(environment: str) -> str:
    return "#" if environment == "python" else "//"


def stdout_of(answer: dict[str, Any]) -> str:
    run = answer["run"]
    assert (run["status"], run["exceeded"]) == (0, []), run
    return str(run["stdout"])


# ------------------------------------------------------------------------------------ Java


JAVA_ENTRY_POINTS = {
    "throws": "public static void main(String[] args) throws IOException",
    "throws several": "public static void main(String[] args) throws IOException, InterruptedException",
    "varargs": "public static void main(String... args) throws IOException",
    "final parameter": "public static void main(final String[] args) throws IOException",
    "annotated": '@SuppressWarnings("unused") public static void main(@Deprecated String[] args) throws IOException',
    "modifiers in another order": "static public synchronized void main(String args[]) throws java.io.IOException",
}


@pytest.mark.parametrize("signature", JAVA_ENTRY_POINTS.values(), ids=JAVA_ENTRY_POINTS.keys())
def test_java_main_with_any_valid_signature(daemon: Any, signature: str) -> None:
    """The entry point is found whatever valid form `main` takes (it used to need exactly
    `public static void main(String[])` with nothing after the parenthesis)."""
    code = f"""
import java.io.BufferedReader;
import java.io.IOException;
import java.io.InputStreamReader;
import java.util.Arrays;
import java.util.stream.Collectors;

class Helper {{
    static String sorted(String text) {{
        return Arrays.stream(text.trim().split("\\\\s+")).mapToInt(Integer::parseInt).sorted()
            .mapToObj(Integer::toString).collect(Collectors.joining(" "));
    }}
}}

public class Solution {{
    {signature} {{
        BufferedReader in = new BufferedReader(new InputStreamReader(System.in));
        String all = in.lines().collect(Collectors.joining(" "));
        System.out.println(Helper.sorted(all) + " " + args.length);
    }}
}}
"""
    assert stdout_of(build_and_run(daemon, "java", code, args=["x"])) == "1 2 3 10 1\n"


def test_java_reads_files_and_uses_collections(daemon: Any) -> None:
    code = """
import java.nio.file.Files;
import java.nio.file.Path;
import java.util.*;

public class Main {
    public static void main(String[] args) throws Exception {
        Map<String, Integer> counts = new TreeMap<>();
        for (String word : Files.readString(Path.of("words.txt")).split("\\\\s+"))
            counts.merge(word, 1, Integer::sum);
        Scanner scanner = new Scanner(System.in);
        long sum = 0;
        while (scanner.hasNextInt()) sum += scanner.nextInt();
        System.out.println(counts + " " + sum);
    }
}
"""
    answer = daemon.post("/run", json={
        "build": {"environment": "java", "main_file": {"content": f"{code}// {uuid.uuid4()}\n"}},
        "run": {"stdin": NUMBERS, "files": [{"name": "words.txt", "content": "b a b"}]},
    }).json()
    assert stdout_of(answer) == "{a=1, b=2} 16\n"


def test_java_without_an_entry_point_says_so(daemon: Any) -> None:
    response = daemon.post("/programs", json={"environment": "java", "main_file": {
        "content": f"// {uuid.uuid4()}\npublic class NoMain {{ public static void run(String[] a) {{ }} }}\n"}})
    assert response.status_code == 400, response.text
    assert "no class has a method public static void main(String[])" in response.json()["details"]["stderr"]


# ------------------------------------------------------------------------------------ TypeScript


def test_typescript_uses_node_modules_and_globals(daemon: Any) -> None:
    """Node's modules and globals type-check (@types/node), as in the original's programs."""
    code = """
import * as fs from "fs";
import * as path from "path";
import { EOL } from "os";

const numbers: number[] = fs.readFileSync(0, "utf8").split(/\\s+/).filter(Boolean).map(Number);
const total: number = numbers.reduce((a, b) => a + b, 0);
const file: string = path.join(process.cwd(), "data.txt");
const extra: Buffer = fs.readFileSync(file);
process.stdout.write(`${total} ${extra.toString("utf8")} ${process.argv.slice(2).join(",")}${EOL}`);
if (total !== 16) {
  process.exit(3);
}
"""
    answer = daemon.post("/run", json={
        "build": {"environment": "typescript", "main_file": {"content": f"{code}// {uuid.uuid4()}\n"}},
        "run": {"stdin": NUMBERS, "args": ["a", "b"], "files": [{"name": "data.txt", "content": "hi"}]},
    }).json()
    assert stdout_of(answer) == "16 hi a,b\n"


def test_typescript_reads_lines_with_readline_and_modules(daemon: Any) -> None:
    code = """
import * as readline from "readline";
import { double } from "./lib";

const lines: string[] = [];
const reader = readline.createInterface({ input: process.stdin });
reader.on("line", (line: string) => lines.push(line));
reader.on("close", () => console.log(lines.map((l) => double(l.length)).join(" ")));
"""
    answer = build_and_run(daemon, "typescript", code,
                           files={"lib.ts": "export function double(n: number): number { return 2 * n; }\n"})
    assert stdout_of(answer) == "10 4\n"


def test_typescript_type_errors_are_compile_errors(daemon: Any) -> None:
    response = daemon.post("/programs", json={"environment": "typescript", "main_file": {
        "content": f"// {uuid.uuid4()}\nconst n: number = process.argv;\n"}})
    assert response.status_code == 400, response.text
    assert "error TS2322" in response.json()["details"]["stdout"] + response.json()["details"]["stderr"]


# ------------------------------------------------------------------------------------ C#


def test_csharp_implicit_usings(daemon: Any) -> None:
    """File, List, LINQ and Task without a using directive, as the .NET SDK allows."""
    code = """
public static class Program
{
    public static async Task<int> Run(string[] args)
    {
        await Task.Yield();
        List<int> numbers = Console.In.ReadToEnd().Split().Where(s => s.Length > 0).Select(int.Parse).ToList();
        Console.WriteLine($"{numbers.Sum()} {File.ReadAllText("data.txt")} {args.Length}");
        return 0;
    }

    public static int Main(string[] args) => Run(args).GetAwaiter().GetResult();
}
"""
    answer = daemon.post("/run", json={
        "build": {"environment": "csharp", "main_file": {"content": f"{code}// {uuid.uuid4()}\n"}},
        "run": {"stdin": NUMBERS, "args": ["x"], "files": [{"name": "data.txt", "content": "hi"}]},
    }).json()
    assert stdout_of(answer) == "16 hi 1\n"


def test_csharp_top_level_statements(daemon: Any) -> None:
    """A program of top-level statements, with a using of its own, `args`, `await`, and a class
    declared after the statements (the order C# requires)."""
    code = """using System.Text;

var numbers = Console.In.ReadToEnd().Split().Where(s => s.Length > 0).Select(int.Parse).ToList();
var text = new StringBuilder();
foreach (var n in numbers.OrderBy(n => n))
    text.Append(Formatter.Format(n));
await Task.Delay(1);
Console.WriteLine($"{text} {args.Length}");

static class Formatter
{
    public static string Format(int n) => $"[{n}]";
}
"""
    assert stdout_of(build_and_run(daemon, "csharp", code, args=["a", "b"])) == "[1][2][3][10] 2\n"


def test_csharp_top_level_return_is_the_exit_status(daemon: Any) -> None:
    answer = build_and_run(daemon, "csharp", 'Console.WriteLine("bye");\nreturn 3;')
    assert (answer["run"]["status"], answer["run"]["stdout"]) == (3, "bye\n"), answer


def test_csharp_errors_point_at_the_users_file_and_line(daemon: Any) -> None:
    """The usings and the wrapper the daemon adds do not shift the compiler's line numbers."""
    response = daemon.post("/programs", json={"environment": "csharp", "main_file": {
        "content": f"// {uuid.uuid4()}\nConsole.WriteLine(1);\nint x = \"text\";\n"}})
    assert response.status_code == 400, response.text
    stderr = response.json()["details"]["stderr"] + response.json()["details"]["stdout"]
    assert "code.cs(3," in stderr, stderr


# ------------------------------------------------------------------------------------ Kotlin


def test_kotlin_readln_works_on_any_kotlin(daemon: Any) -> None:
    """readln() and readlnOrNull() (Kotlin 1.6) are what programs use today; Debian's Kotlin is
    1.3, where the environment adds them."""
    code = """
fun main() {
    val first = readln().trim().split(" ").map { it.toInt() }
    val rest = generateSequence { readlnOrNull() }.toList()
    println("${first.sorted()} ${rest.size}")
}
"""
    assert stdout_of(build_and_run(daemon, "kotlin", code)) == "[1, 2, 3] 1\n"


def test_kotlin_program_with_its_own_readln(daemon: Any) -> None:
    code = """
private fun readln() = readLine()!!
fun main() {
    println(readln().length)
}
"""
    assert stdout_of(build_and_run(daemon, "kotlin", code)) == "5\n"


# ------------------------------------------------------------------------------------ emcc


def emcc_build_and_run(daemon: Any, name: str, main: str, **kwargs: Any) -> dict[str, Any]:
    response = daemon.post("/run", json={
        "build": {"environment": "emcc", "main_file": {"name": name, "content": f"{main}\n// {uuid.uuid4()}\n"},
                  "compile_limits": {"time": 30}},
        "run": kwargs,
    })
    assert response.status_code == 200, response.text
    answer: dict[str, Any] = response.json()
    return answer


@pytest.mark.parametrize("name", ["main.cpp", "main.cc", "main.cxx"])
def test_emcc_compiles_cpp_by_the_extension(daemon: Any, name: str) -> None:
    """C++ with the standard library (iostream, vector, algorithm) from stdin to stdout."""
    main = """#include <algorithm>
#include <iostream>
#include <vector>
int main() {
    std::vector<int> numbers;
    for (int n; std::cin >> n;) numbers.push_back(n);
    std::sort(numbers.begin(), numbers.end());
    for (int n : numbers) std::cout << n << ' ';
    std::cout << "\\n";
}"""
    assert stdout_of(emcc_build_and_run(daemon, name, main, stdin=NUMBERS)) == "1 2 3 10 \n"


def test_emcc_program_sees_its_files_and_tmp_and_its_exit_status_counts(daemon: Any) -> None:
    """Under Node the program works on the job's real working directory and /tmp (NODEFS), not
    on Emscripten's empty in-memory file system; `return 3` is the job's status."""
    main = """#include <stdio.h>
int main(void) {
    char line[64] = "";
    FILE *in = fopen("data.txt", "r");
    if (in == NULL || fgets(line, sizeof line, in) == NULL) return 1;
    FILE *out = fopen("/tmp/copy.txt", "w");
    if (out == NULL) return 2;
    fputs(line, out);
    fclose(out);
    FILE *back = fopen("/tmp/copy.txt", "r");
    char again[64] = "";
    if (back == NULL || fgets(again, sizeof again, back) == NULL) return 4;
    printf("read %s", again);
    return 3;
}"""
    answer = emcc_build_and_run(daemon, "main.c", main, files=[{"name": "data.txt", "content": "hello\n"}])
    assert (answer["run"]["status"], answer["run"]["stdout"]) == (3, "read hello\n"), answer["run"]


def test_emcc_refuses_other_extensions_with_a_message(daemon: Any) -> None:
    response = daemon.post("/programs", json={"environment": "emcc",
                                              "main_file": {"name": "main.rs", "content": f"// {uuid.uuid4()}"}})
    assert response.status_code == 400, response.text
    assert response.json()["error"] == "compile_error"
    assert "must end in .c (C) or .cpp, .cc or .cxx (C++)" in response.json()["details"]["stderr"]


def test_emcc_compile_args_reach_emcc(daemon: Any) -> None:
    """Allowed compile_args change the build: a macro with a space, -O0, a source embedded at a
    path of the program's in-memory file system. They are part of the program id."""
    main = """#include <stdio.h>
int main(void) {
    char line[64] = "";
    FILE *in = fopen("/embedded/data.txt", "r");
    if (in == NULL || fgets(line, sizeof line, in) == NULL) return 1;
    printf("%s %s", GREETING, line);
    return 0;
}"""
    build = {"environment": "emcc", "main_file": {"name": "main.c", "content": f"{main}\n// {uuid.uuid4()}\n"},
             "files": [{"name": "data.txt", "content": "embedded\n"}], "compile_limits": {"time": 30},
             "compile_args": ["-O0", "-DGREETING=\"hello there\"", "--embed-file", "data.txt@/embedded/data.txt"]}
    response = daemon.post("/run", json={"build": build})
    assert response.status_code == 200, response.text
    assert stdout_of(response.json()) == "hello there embedded\n"
    other = daemon.post("/programs", json={**build, "compile_args": ["-O0", "-DGREETING=\"hi\"",
                                                                     "--embed-file", "data.txt@/embedded/data.txt"]})
    assert other.status_code == 201, other.text
    assert other.json()["program_id"] != response.json()["program_id"]
