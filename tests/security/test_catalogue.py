"""The attack catalogue is complete: every case is covered by a test or marked not applicable.

Cases come from the consolidated catalogue (RES, CC, FS, INFO, NET, PRIV, API, and WASM for the
`wasmtime` runner). A test claims cases with ``@pytest.mark.catalogue("RES-01")``;
CATALOGUE.md lists the cases that do not apply, each with its reason.
"""

from __future__ import annotations

import re
from pathlib import Path

HERE = Path(__file__).parent
COUNTS = {"RES": 13, "CC": 6, "FS": 12, "INFO": 9, "NET": 5, "PRIV": 8, "API": 10, "WASM": 6}
ALL_CASES = {f"{group}-{n:02d}" for group, count in COUNTS.items() for n in range(1, count + 1)}
CASE = re.compile(r"\b(?:RES|CC|FS|INFO|NET|PRIV|API|WASM)-\d\d\b")


def covered_by_tests() -> dict[str, list[str]]:
    """Case -> files of tests that claim it with the catalogue marker."""
    covered: dict[str, list[str]] = {}
    for path in sorted(HERE.glob("test_*.py")):
        if path.name == Path(__file__).name:
            continue
        for marker in re.findall(r"mark\.catalogue\(([^)]*)\)", path.read_text()):
            for case in CASE.findall(marker):
                covered.setdefault(case, []).append(path.name)
    return covered


def not_applicable() -> dict[str, str]:
    """Case -> reason, from the `| ID | n/a | reason |` rows of CATALOGUE.md."""
    rows = {}
    for line in (HERE / "CATALOGUE.md").read_text().splitlines():
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        if len(cells) >= 3 and CASE.fullmatch(cells[0]) and cells[1].lower() == "n/a":
            rows[cells[0]] = cells[2]
    return rows


def test_every_case_is_tested_or_explained() -> None:
    covered, skipped = covered_by_tests(), not_applicable()
    assert sorted(ALL_CASES - set(covered) - set(skipped)) == []
    assert sorted(set(covered) & set(skipped)) == [], "a case is both tested and marked n/a"
    assert all(len(reason) > 20 for reason in skipped.values()), "give each n/a a real reason"


def test_only_known_cases_are_claimed() -> None:
    assert sorted(set(covered_by_tests()) - ALL_CASES) == []
