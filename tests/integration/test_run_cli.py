"""`sandkasten run` as a subprocess against a real daemon: output, exit status, files, errors.

Programs carry a uuid in a comment so that no test meets another's cached build.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import uuid
from pathlib import Path

import pytest

from tests.conftest import ROOT, Daemon

pytestmark = pytest.mark.sandbox


def sandkasten_run(
    daemon: Daemon, *args: str, stdin: str | None = None, server: str | None = None
) -> subprocess.CompletedProcess[str]:
    """`python -m sandkasten_py run ARGS` with SANDKASTEN_URL set to the daemon (or `server`)."""
    env = {"PATH": os.environ.get("PATH", "/usr/bin:/bin"), "SANDKASTEN_URL": server or daemon.url}
    return subprocess.run([sys.executable, "-m", "sandkasten_py", "run", *args], env=env, cwd=ROOT,
                          input=stdin if stdin is not None else "", capture_output=True, text=True,
                          timeout=120)


def write(directory: Path, name: str, content: str) -> str:
    path = directory / name
    path.write_text(content)
    return str(path)


def tag() -> str:
    return uuid.uuid4().hex


def test_stdout_stderr_and_exit_status_are_the_programs(daemon: Daemon, tmp_path: Path) -> None:
    hello = write(tmp_path, "hello.py", f"""# {tag()}
import sys
print("to stdout")
print("to stderr", file=sys.stderr)
sys.exit(3)
""")
    done = sandkasten_run(daemon, hello)
    assert (done.returncode, done.stdout, done.stderr) == (3, "to stdout\n", "to stderr\n")


def test_stdin_is_piped_through_and_args_follow_double_dash(daemon: Daemon, tmp_path: Path) -> None:
    echo = write(tmp_path, "echo.py", f"""# {tag()}
import sys
print(repr(sys.stdin.read()), sys.argv[1:])
""")
    done = sandkasten_run(daemon, echo, "--", "--verbose", "two words", stdin="5\nsix\n")
    assert (done.returncode, done.stdout) == (0, "'5\\nsix\\n' ['--verbose', 'two words']\n"), done.stderr


def test_stdin_file_overrides_stdin(daemon: Daemon, tmp_path: Path) -> None:
    cat = write(tmp_path, "cat.py", f"# {tag()}\nimport sys\nsys.stdout.write(sys.stdin.read())\n")
    given = write(tmp_path, "input.txt", "from the file\n")
    done = sandkasten_run(daemon, cat, "--stdin-file", given, stdin="from the pipe\n")
    assert (done.returncode, done.stdout) == (0, "from the file\n"), done.stderr


def test_c_with_a_header_inferred_from_the_extension(daemon: Daemon, tmp_path: Path) -> None:
    main_c = write(tmp_path, "main.c", f"""/* {tag()} */
#include <stdio.h>
#include "util.h"
int main(int argc, char **argv) {{
    int n = 0;
    if (scanf("%d", &n) != 1) return 9;
    printf("%d %s\\n", twice(n), argc > 1 ? argv[1] : "-");
    return 0;
}}
""")
    util_h = write(tmp_path, "util.h", "static int twice(int n) { return 2 * n; }\n")
    done = sandkasten_run(daemon, main_c, util_h, "--", "--verbose", stdin="5\n")
    assert (done.returncode, done.stdout, done.stderr) == (0, "10 --verbose\n", "")


def test_env_picks_the_environment_whatever_the_extension(daemon: Daemon, tmp_path: Path) -> None:
    script = write(tmp_path, "script.txt", f"# {tag()}\nprint('python ran me')\n")
    done = sandkasten_run(daemon, script, "--env", "python")
    assert (done.returncode, done.stdout) == (0, "python ran me\n"), done.stderr


def test_env_vars_reach_the_program(daemon: Daemon, tmp_path: Path) -> None:
    env = write(tmp_path, "env.py", f"# {tag()}\nimport os\nprint(os.environ['GREETING'])\n")
    done = sandkasten_run(daemon, env, "--env-var", "GREETING=hi=there")
    assert (done.returncode, done.stdout) == (0, "hi=there\n"), done.stderr


def test_a_compile_error_shows_the_compiler_and_exits_1(daemon: Daemon, tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.c", f"/* {tag()} */\nint main(void) {{ return missing_symbol_17; }}\n")
    done = sandkasten_run(daemon, broken)
    assert done.returncode == 1, done
    assert "missing_symbol_17" in done.stderr
    assert done.stderr.splitlines()[-1] == "sandkasten: compile error (status 1)"


def test_a_time_limit_kills_the_program_and_is_named(daemon: Daemon, tmp_path: Path) -> None:
    loop = write(tmp_path, "loop.py", f"# {tag()}\nprint('started', flush=True)\nwhile True:\n    pass\n")
    done = sandkasten_run(daemon, loop, "--time", "1")
    assert (done.returncode, done.stdout) == (137, "started\n"), done.stderr
    assert done.stderr.splitlines()[-1] == "sandkasten: limits exceeded: time"


def test_limits_above_the_maximum_are_an_api_error(daemon: Daemon, tmp_path: Path) -> None:
    hello = write(tmp_path, "hello.py", f"# {tag()}\nprint(1)\n")
    done = sandkasten_run(daemon, hello, "--time", "100000")
    assert done.returncode == 2, done
    assert done.stdout == ""
    assert done.stderr.startswith("sandkasten: run_limits_exceeded: `time`: 100000 requested, at most 10")
    assert len(done.stderr.splitlines()) == 1


def test_json_prints_the_whole_result_and_keeps_the_status(daemon: Daemon, tmp_path: Path) -> None:
    hello = write(tmp_path, "hello.py", f"# {tag()}\nimport sys\nprint('json me')\nsys.exit(4)\n")
    done = sandkasten_run(daemon, hello, "--json")
    assert done.returncode == 4, done.stderr
    result = json.loads(done.stdout)
    assert result["run"]["stdout"] == "json me\n" and result["run"]["status"] == 4
    assert {"program_id", "ttl", "cached", "build", "run"} <= set(result)
    assert done.stderr == ""


def test_json_prints_the_compile_error_body(daemon: Daemon, tmp_path: Path) -> None:
    broken = write(tmp_path, "broken.c", f"/* {tag()} */\nint main(void) {{ return nope_17; }}\n")
    done = sandkasten_run(daemon, broken, "--json")
    assert done.returncode == 1
    body = json.loads(done.stdout)
    assert body["error"] == "compile_error" and "nope_17" in body["details"]["stderr"]


def test_an_unknown_extension_exits_2_and_says_to_use_env(daemon: Daemon, tmp_path: Path) -> None:
    odd = write(tmp_path, "notes.xyz", "whatever\n")
    done = sandkasten_run(daemon, odd)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("sandkasten: no environment has main files ending in '.xyz'; pass --env")
    assert "python" in done.stderr and len(done.stderr.splitlines()) == 1


def test_a_file_longer_than_the_server_accepts_is_named_before_anything_runs(
    daemon: Daemon, tmp_path: Path
) -> None:
    file_length = daemon.get("/config").json()["request_limits"]["file_length"]
    big = write(tmp_path, "big.py", "#" * (file_length + 1))
    done = sandkasten_run(daemon, big)
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == (f"sandkasten: {big} has {file_length + 1} characters; "
                           f"the server accepts at most {file_length}\n")


def test_a_non_utf8_file_is_refused(daemon: Daemon, tmp_path: Path) -> None:
    latin1 = tmp_path / "latin1.py"
    latin1.write_bytes(b"print('\xe9')\n")
    done = sandkasten_run(daemon, str(latin1))
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == f"sandkasten: {latin1} is not UTF-8 text (byte 7); the API carries only text\n"


def test_an_unknown_environment_is_an_api_error(daemon: Daemon, tmp_path: Path) -> None:
    hello = write(tmp_path, "hello.py", "print(1)\n")
    done = sandkasten_run(daemon, hello, "--env", "no-such-env")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr.startswith("sandkasten: environment_not_found: ")
    assert len(done.stderr.splitlines()) == 1


def test_an_unreachable_server_is_one_line(daemon: Daemon, tmp_path: Path) -> None:
    hello = write(tmp_path, "hello.py", "print(1)\n")
    done = sandkasten_run(daemon, hello, "--server", "http://127.0.0.1:1")
    assert (done.returncode, done.stdout) == (2, "")
    assert done.stderr == ("sandkasten: cannot reach the sandkasten server at http://127.0.0.1:1: "
                           "Connection refused; start one with `sandkasten serve` or pass --server\n")
    assert "Traceback" not in done.stderr


# ------------------------------------------------------------------------------ --tests DIR

SUM = """/* {tag} */
#include <stdio.h>
int main(void) {{ long a, b; if (scanf("%ld %ld", &a, &b) != 2) return 1; printf("%ld\\n", a + b); return 0; }}
"""


def test_tests_dir_runs_every_case_in_one_batch_and_reports_each(daemon: Daemon, tmp_path: Path) -> None:
    """Compiled once; each NAME.in is a run whose stdout is compared with NAME.out (trailing
    whitespace does not count); the report has a line per case in natural order and a summary."""
    solution = write(tmp_path, "sum.c", SUM.format(tag=tag()))
    cases = tmp_path / "cases"
    cases.mkdir()
    for name, given, expected in [("1", "1 2", "3\n"), ("2", "40 2", "42   \n\n"), ("10", "5 5", "11\n")]:
        write(cases, f"{name}.in", given)
        write(cases, f"{name}.out", expected)
    done = sandkasten_run(daemon, solution, "--tests", str(cases))
    assert done.returncode == 3, done.stderr
    lines = done.stdout.splitlines()
    assert [line.split()[:2] for line in lines[:3]] == [["1", "passed"], ["2", "passed"], ["10", "FAILED"]], done.stdout
    assert "line 1: expected '11', got '10'" in lines[2]
    assert lines[3].startswith("2 of 3 passed; time ")
    written = write(cases, "10.out", "10\n")
    assert written and sandkasten_run(daemon, solution, "--tests", str(cases)).returncode == 0


def test_tests_dir_with_json_and_exact_comparison(daemon: Daemon, tmp_path: Path) -> None:
    solution = write(tmp_path, "sum.c", SUM.format(tag=tag()))
    cases = tmp_path / "cases"
    cases.mkdir()
    write(cases, "a.in", "1 1")
    write(cases, "a.out", "2 \n")  # a trailing space: only `exact` minds
    done = sandkasten_run(daemon, solution, "--tests", str(cases), "--compare", "exact", "--json")
    result = json.loads(done.stdout)
    assert done.returncode == 3 and result["batch"]["results"][0]["passed"] is False, done.stdout
    assert result["build"]["status"] == 0


def test_tests_dir_problems_are_usage_errors(daemon: Daemon, tmp_path: Path) -> None:
    solution = write(tmp_path, "sum.c", SUM.format(tag=tag()))
    cases = tmp_path / "cases"
    cases.mkdir()
    write(cases, "1.in", "1 2")
    done = sandkasten_run(daemon, solution, "--tests", str(cases))
    assert (done.returncode, done.stdout) == (2, ""), done
    assert "1.out missing" in done.stderr
    compile_error = write(tmp_path, "broken.c", f"/* {tag()} */ int main(void) {{ return }}")
    write(cases, "1.out", "3\n")
    failed = sandkasten_run(daemon, compile_error, "--tests", str(cases))
    assert failed.returncode == 1 and "compile error" in failed.stderr, failed
