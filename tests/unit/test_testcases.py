"""`sandkasten run --tests DIR` without a server: finding the cases, the batch, the report."""

from __future__ import annotations

from pathlib import Path

import pytest

from sandkasten_py.schemas import (
    BatchItem, BatchResult, BatchSummary, EnvVar, Limits, LimitsOpt, RequestLimits, ResourceUsage, RunResult,
    Spread,
)
from sandkasten_py.testcases import (
    TESTS_FAILED, Case, CasesError, batch_request, case_names, check_cases, read_cases, report, why_failed,
)

LIMITS = Limits(cpus=1, time=5, memory=256, tmpfs=0, filesize=1, file_descriptors=64, processes=8,
                stdout_max_size=100, stderr_max_size=100, network=False)


def result(stdout: str, status: int = 0, exceeded: tuple[str, ...] = ()) -> RunResult:
    return RunResult(status=status, stdout=stdout, stderr="", resource_usage=ResourceUsage(time=7, memory=900, cpu_time=5),
                     limits=LIMITS, exceeded=list(exceeded))


def test_cases_are_pairs_in_natural_order() -> None:
    names = ["10.in", "10.out", "2.in", "2.out", "b.in", "b.out", "a1.in", "a1.out", "notes.txt"]
    assert case_names(names) == ["2", "10", "a1", "b"]


@pytest.mark.parametrize(("names", "message"), [
    (["1.in", "1.out", "2.in"], "2.out missing"),
    (["1.out"], "1.in missing"),
    (["readme.md"], "no test cases"),
])
def test_a_lonely_file_or_no_case_is_an_error(names: list[str], message: str) -> None:
    with pytest.raises(CasesError, match=message):
        case_names(names)


def test_read_cases_reads_text_and_refuses_binary(tmp_path: Path) -> None:
    (tmp_path / "1.in").write_text("1 2\n")
    (tmp_path / "1.out").write_text("3\n")
    assert read_cases(str(tmp_path)) == [Case(name="1", stdin="1 2\n", expected_stdout="3\n")]
    (tmp_path / "1.out").write_bytes(b"\xff")
    with pytest.raises(CasesError, match="not UTF-8"):
        read_cases(str(tmp_path))
    with pytest.raises(CasesError, match="cannot read"):
        read_cases(str(tmp_path / "missing"))


def test_the_batch_has_a_run_per_case_with_the_command_lines_settings() -> None:
    cases = [Case("1", "a", "A"), Case("2", "b", "B")]
    request = batch_request(cases, args=["-v"], env_vars=[EnvVar(name="X", value="1")],
                            limits=LimitsOpt(time=2), compare="tokens")
    assert [(r.stdin, r.expected_stdout, r.args) for r in request.runs] == [("a", "A", ["-v"]), ("b", "B", ["-v"])]
    assert request.compare == "tokens" and request.runs[0].run_limits == LimitsOpt(time=2)


def test_cases_the_server_would_refuse_are_named() -> None:
    with pytest.raises(CasesError, match="3 test cases; the server runs at most 2"):
        check_cases([Case(str(i), "", "") for i in range(3)], RequestLimits(batch_runs=2))
    with pytest.raises(CasesError, match="big.in has 11 characters"):
        check_cases([Case("big", "x" * 11, "")], RequestLimits(stdin_length=10))


@pytest.mark.parametrize(("run", "expected", "why"), [
    (result("", exceeded=("time",)), "1\n", "limits exceeded: time"),
    (result("", status=3), "1\n", "exit status 3"),
    (result("1\n2\n"), "1\n3\n", "line 2: expected '3', got '2'"),
    (result("1\n"), "1\n2\n", "1 lines, expected 2"),
])
def test_why_a_case_failed(run: RunResult, expected: str, why: str) -> None:
    assert why_failed(Case("c", "", expected), run) == why


def test_the_report_has_a_line_per_case_a_summary_and_the_status() -> None:
    cases = [Case("1", "", "1\n"), Case("long-name", "", "2\n")]
    spread = Spread(min=7, avg=7, max=7)
    batch = BatchResult(results=[BatchItem(run=result("1\n"), passed=True), BatchItem(run=result("9\n"), passed=False)],
                        summary=BatchSummary(runs=2, passed=1, failed=1, time=spread, memory=Spread(min=900, avg=900, max=900),
                                             outputs_agree=False))
    text, status = report(cases, batch)
    assert text.splitlines() == [
        "1          passed  (7 ms, 900 KB)",
        "long-name  FAILED  (7 ms, 900 KB): line 1: expected '2', got '9'",
        "1 of 2 passed; time 7/7/7 ms, memory 900/900/900 KB (min/avg/max)",
    ]
    assert status == TESTS_FAILED
