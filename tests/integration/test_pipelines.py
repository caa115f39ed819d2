"""Pipelines (`POST /pipelines`) against a real daemon: the classic interactive judge, an
interactor in Python and a solution in C playing a guessing game over pipes in both directions;
one-way pipes; the errors of pipes that do not fit; limits that stay each process's own."""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest

pytestmark = pytest.mark.sandbox

INTERACTOR = """import sys
secret, guesses = int(sys.argv[1]), 0
for line in sys.stdin:
    guesses += 1
    guess = int(line)
    if guess == secret:
        print("correct", flush=True)
        print(f"OK: found {secret} in {guesses} guesses", file=sys.stderr)
        sys.exit(0)
    print("higher" if guess < secret else "lower", flush=True)
    if guesses > 20:
        print("too many guesses", file=sys.stderr)
        sys.exit(1)
print("the solution gave up", file=sys.stderr)
sys.exit(2)
"""

SOLUTION = """#include <stdio.h>
#include <string.h>
int main(void) {
    int low = 1, high = 1000000;
    char answer[32];
    while (low <= high) {
        int guess = low + (high - low) / 2;
        printf("%d\\n", guess);
        fflush(stdout);
        if (!fgets(answer, sizeof answer, stdin)) return 3;
        if (strncmp(answer, "correct", 7) == 0) { fprintf(stderr, "solved\\n"); return 0; }
        if (strncmp(answer, "higher", 6) == 0) low = guess + 1; else high = guess - 1;
    }
    return 4;
}
"""


def build(daemon: Any, environment: str, code: str) -> str:
    response = daemon.post("/programs", json={"environment": environment,
                                              "main_file": {"content": code + f"\n// {uuid.uuid4()}\n"
                                                            if environment == "c" else code + f"\n# {uuid.uuid4()}\n"}})
    assert response.status_code == 201, response.text
    program_id: str = response.json()["program_id"]
    return program_id


@pytest.fixture(scope="module")
def game(daemon: Any) -> tuple[str, str]:
    return build(daemon, "python", INTERACTOR), build(daemon, "c", SOLUTION)


def play(daemon: Any, interactor: str, solution: str, secret: int, **solution_run: Any) -> Any:
    return daemon.post("/pipelines", json={
        "processes": [{"program_id": interactor, "run": {"args": [str(secret)]}},
                      {"program_id": solution, "run": solution_run}],
        "pipes": [{"from": [0, "stdout"], "to": [1, "stdin"]}, {"from": [1, "stdout"], "to": [0, "stdin"]}],
    })


@pytest.mark.parametrize("secret", [1, 777_777, 1_000_000])
def test_an_interactor_and_a_solution_play_a_guessing_game(daemon: Any, game: tuple[str, str], secret: int) -> None:
    response = play(daemon, *game, secret)
    assert response.status_code == 200, response.text
    interactor, solution = response.json()["results"]
    assert (interactor["status"], solution["status"]) == (0, 0), response.text
    assert interactor["stderr"].startswith(f"OK: found {secret} in ") and solution["stderr"] == "solved\n"
    assert int(interactor["stderr"].split()[-2]) <= 20  # binary search
    assert interactor["stdout"] == solution["stdout"] == ""  # piped: not repeated in the results


def test_each_process_keeps_its_own_limits(daemon: Any, game: tuple[str, str]) -> None:
    """The solution's 1 s limit ends it (it never answers); the interactor then sees its stdin
    end and says so, within its own limits."""
    interactor, _ = game
    stuck = build(daemon, "python", "import time\ntime.sleep(30)\n")
    response = play(daemon, interactor, stuck, 5, run_limits={"time": 1})
    assert response.status_code == 200, response.text
    judge, solution = response.json()["results"]
    assert solution["exceeded"] == ["time"] and solution["limits"]["time"] == 1
    assert (judge["status"], judge["stderr"]) == (2, "the solution gave up\n"), judge


def test_a_one_way_pipe_and_stdin_of_the_first_process(daemon: Any) -> None:
    producer = build(daemon, "bash", 'while read -r line; do echo "${line^^}"; done')
    consumer = build(daemon, "python", "import sys\nprint(sorted(sys.stdin.read().split()))")
    started = time.monotonic()
    response = daemon.post("/pipelines", json={
        "processes": [{"program_id": producer, "run": {"stdin": "pear\napple\n"}},
                      {"program_id": consumer, "run": {"stdin": "ignored: a pipe feeds it"}}],
        "pipes": [{"from": [0, "stdout"], "to": [1, "stdin"]}]})
    assert response.status_code == 200, response.text
    first, second = response.json()["results"]
    assert (first["stdout"], second["stdout"]) == ("", "['APPLE', 'PEAR']\n")
    assert time.monotonic() - started < 60


@pytest.mark.parametrize(("pipes", "message"), [
    ([{"from": [0, "stdout"], "to": [5, "stdin"]}], "pipes[0].to: there is no process 5"),
    ([{"from": [0, "stdout"], "to": [0, "stdin"]}], "would feed itself"),
    ([{"from": [0, "stdout"], "to": [1, "stdin"]}, {"from": [0, "stderr"], "to": [1, "stdin"]}],
     "pipes[1]: the stdin of process 1 is fed by another pipe"),
])
def test_pipes_that_do_not_fit_are_refused(daemon: Any, game: tuple[str, str], pipes: list[Any],
                                           message: str) -> None:
    response = daemon.post("/pipelines", json={
        "processes": [{"program_id": game[0]}, {"program_id": game[1]}], "pipes": pipes})
    assert response.status_code == 400 and response.json()["error"] == "invalid_pipeline", response.text
    assert message in response.json()["message"]


def test_unknown_programs_and_too_many_processes(daemon: Any, game: tuple[str, str]) -> None:
    missing = daemon.post("/pipelines", json={"processes": [
        {"program_id": game[0]}, {"program_id": "00000000-0000-0000-0000-000000000000"}]})
    assert missing.status_code == 404 and missing.json()["error"] == "program_not_found", missing.text
    many = daemon.post("/pipelines", json={"processes": [{"program_id": game[0]}] * 9})
    assert many.status_code == 422 and "pipeline_processes" in many.json()["reason"], many.text


def test_the_client_runs_pipelines(daemon: Any, game: tuple[str, str]) -> None:
    from sandkasten_py.client import SandkastenClient
    from sandkasten_py.schemas import Pipe, PipelineProcess, PipelineRequest, RunRequest

    with SandkastenClient(daemon.url) as client:
        result = client.pipeline(PipelineRequest(
            processes=[PipelineProcess(program_id=game[0], run=RunRequest(args=["31337"])),
                       PipelineProcess(program_id=game[1])],
            pipes=[Pipe(from_=(0, "stdout"), to=(1, "stdin")), Pipe(from_=(1, "stdout"), to=(0, "stdin"))]))
    assert [r.status for r in result.results] == [0, 0]
