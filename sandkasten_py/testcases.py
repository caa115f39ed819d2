"""`sandkasten run FILE --tests DIR`: a directory of test cases as one batch, and its report.

A test case is a pair of files in DIR: `NAME.in` (stdin) and `NAME.out` (the stdout it should
print), in the order of their names (`2.in` before `10.in`: numbers compare as numbers). The
program is built once and all cases run in one `POST /batch`, in parallel on the server. Each
case gets a line; a failed one shows the first line where its output differs. Pure functions:
runcli.py reads the files and talks to the server.
"""

from __future__ import annotations

import re
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from sandkasten_py.schemas import (
    BatchRequest, BatchResult, BatchRun, Compare, EnvVar, LimitsOpt, RequestLimits, RunResult,
)

TESTS_FAILED = 3
"""The exit status of `sandkasten run --tests` when a case failed (0: all passed)."""


class CasesError(Exception):
    """The directory does not hold usable test cases (a usage error)."""


@dataclass(frozen=True)
class Case:
    """One test case: NAME.in is its stdin, NAME.out the stdout it must print."""

    name: str
    stdin: str
    expected_stdout: str


def _natural_key(name: str) -> list[tuple[int, int | str]]:
    return [(0, int(part)) if part.isdigit() else (1, part) for part in re.split(r"(\d+)", name) if part]


def case_names(file_names: Sequence[str]) -> list[str]:
    """The names that have both an `.in` and an `.out` file, in natural order; an `.in` or `.out`
    without its partner is a CasesError (a forgotten file must not shrink the suite)."""
    inputs = {n.removesuffix(".in") for n in file_names if n.endswith(".in")}
    outputs = {n.removesuffix(".out") for n in file_names if n.endswith(".out")}
    lonely = sorted((inputs ^ outputs), key=_natural_key)
    if lonely:
        missing = [f"{n}.out" if n in inputs else f"{n}.in" for n in lonely]
        raise CasesError(f"test cases without their partner file: {', '.join(missing)} missing")
    if not inputs:
        raise CasesError("no test cases (pairs of NAME.in and NAME.out files)")
    return sorted(inputs, key=_natural_key)


def read_cases(directory: str) -> list[Case]:
    """The test cases of `directory` (CasesError if there are none, or a file is unreadable)."""
    try:
        names = case_names([p.name for p in Path(directory).iterdir() if p.is_file()])
    except OSError as e:
        raise CasesError(f"cannot read {directory}: {e.strerror or e}") from None
    cases = []
    for name in names:
        texts = []
        for suffix in (".in", ".out"):
            path = Path(directory, name + suffix)
            try:
                texts.append(path.read_bytes().decode("utf-8"))
            except OSError as e:
                raise CasesError(f"cannot read {path}: {e.strerror or e}") from None
            except UnicodeDecodeError as e:
                raise CasesError(f"{path} is not UTF-8 text (byte {e.start})") from None
        cases.append(Case(name=name, stdin=texts[0], expected_stdout=texts[1]))
    return cases


def check_cases(cases: Sequence[Case], limits: RequestLimits) -> None:
    """CasesError when the server would refuse the cases: too many, or a stdin too long."""
    if len(cases) > limits.batch_runs:
        raise CasesError(f"{len(cases)} test cases; the server runs at most {limits.batch_runs} in a batch")
    for case in cases:
        if len(case.stdin) > limits.stdin_length:
            raise CasesError(f"{case.name}.in has {len(case.stdin)} characters; "
                                f"the server accepts at most {limits.stdin_length}")


def batch_request(cases: Sequence[Case], *, args: list[str], env_vars: list[EnvVar],
                  limits: LimitsOpt | None, compare: Compare) -> BatchRequest:
    """One run per case, each with its stdin, the command line's args, env vars and limits."""
    return BatchRequest(
        runs=[BatchRun(stdin=case.stdin, args=args or None, env_vars=env_vars or None, run_limits=limits,
                       expected_stdout=case.expected_stdout) for case in cases],
        compare=compare,
    )


def report(cases: Sequence[Case], result: BatchResult) -> tuple[str, int]:
    """One line per case and a summary line; the exit status (0, or TESTS_FAILED)."""
    width = max(len(case.name) for case in cases)
    lines = []
    for case, item in zip(cases, result.results, strict=True):
        run = item.run
        usage = f"{run.resource_usage.time} ms, {run.resource_usage.memory} KB"
        if item.passed:
            lines.append(f"{case.name:<{width}}  passed  ({usage})")
        else:
            lines.append(f"{case.name:<{width}}  FAILED  ({usage}): {why_failed(case, run)}")
    summary = result.summary
    lines.append(f"{summary.passed} of {len(cases)} passed; time {summary.time.min:.0f}/{summary.time.avg:.0f}/"
                 f"{summary.time.max:.0f} ms, memory {summary.memory.min:.0f}/{summary.memory.avg:.0f}/"
                 f"{summary.memory.max:.0f} KB (min/avg/max)")
    return "\n".join(lines) + "\n", 0 if summary.passed == len(cases) else TESTS_FAILED


def why_failed(case: Case, run: RunResult) -> str:
    """Why a run did not pass: the limits it ran into, its exit status, or where its output differs."""
    if run.exceeded:
        return f"limits exceeded: {', '.join(run.exceeded)}"
    if run.status != 0:
        return f"exit status {run.status}"
    got, expected = run.stdout.splitlines(), case.expected_stdout.splitlines()
    for number, (have, want) in enumerate(zip(got, expected), start=1):
        if have.rstrip() != want.rstrip():
            return f"line {number}: expected {_short(want)}, got {_short(have)}"
    if len(got) != len(expected):
        return f"{len(got)} lines, expected {len(expected)}"
    return "the output differs in whitespace"


def _short(text: str, limit: int = 40) -> str:
    return repr(text if len(text) <= limit else text[:limit] + "...")
