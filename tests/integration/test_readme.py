"""The README's examples do what it says, against a real daemon: the client snippet runs, and the
`sandkasten run` transcript prints what the README shows."""

from __future__ import annotations

import contextlib
import io
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from conftest import ROOT

pytestmark = pytest.mark.sandbox

README = (ROOT / "README.md").read_text()


def section(title: str) -> str:
    start = README.index(title)
    end = README.find("\n#", start + len(title))
    return README[start:end]


def test_the_client_example_runs(daemon: Any) -> None:
    code = re.search(r"```python\n(.*?)```", section("### The Python client"), re.S)
    assert code is not None
    source = code.group(1).replace("http://127.0.0.1:8000/", daemon.url + "/")
    printed = io.StringIO()
    with contextlib.redirect_stdout(printed):
        exec(compile(source, "README.md", "exec"), {})  # noqa: S102 - our own README
    out = printed.getvalue()
    assert "error: expected" in out  # the compiler's message of the broken C program
    assert out.endswith("3\n\n7\n\n")


def test_the_command_line_transcript(daemon: Any, tmp_path: Path) -> None:
    transcript = re.search(r"```sh\n(.*?)```", section("### From the command line"), re.S)
    assert transcript is not None
    (tmp_path / "hello.py").write_text('print("Hello, World!")\n')
    (tmp_path / "spin.py").write_text("while True:\n    pass\n")
    (tmp_path / "main.c").write_text('#include <stdio.h>\n#include "util.h"\nint main(int argc, char **argv) {\n'
                                     '    int n;\n    if (scanf("%d", &n) != 1) return 1;\n'
                                     '    printf("%d %s\\n", twice(n), argv[1]);\n    return 0;\n}\n')
    (tmp_path / "util.h").write_text("static int twice(int x) { return 2 * x; }\n")
    env = {**os.environ, "SANDKASTEN_URL": daemon.url,
           "PATH": f"{Path(sys.executable).parent}:{os.environ.get('PATH', '/usr/bin:/bin')}"}
    commands = [line[2:] for line in transcript.group(1).splitlines() if line.startswith("$ ")]
    expected_outputs = re.split(r"^\$ .*\n", transcript.group(1), flags=re.M)[1:]
    assert len(commands) == len(expected_outputs) == 3
    for command, expected in zip(commands, expected_outputs, strict=True):
        # both streams in one, in the order a terminal shows them
        done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=120)
        assert done.stdout == expected, (command, done.stdout)
