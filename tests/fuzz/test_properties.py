"""Property tests of the programs API, in the spirit of Sandkasten's tests/proptests.rs.

Hypothesis generates requests (files, args, stdin, env vars, limits, names) and sends them as JSON
to a real daemon. Whatever is sent, no response is a 5xx, and:

* a valid request gives 200, and the program (a tiny Python echo) sees exactly the stdin, args,
  files and environment variables it was sent, and the limits reported are the requested ones
  (or the maximums);
* limits above the maximums give the exact `compile_limits_exceeded` / `run_limits_exceeded`
  body, listing every offending limit in field order; values no u64 can hold give 422;
* invalid file or variable names give 422 (pattern) or 400 `invalid_file_names` /
  `invalid_env_vars` (dots only, duplicates, a clash with the main file, `_`), in the
  reference's order of checks;
* sizes up to the documented maximums are accepted and delivered; one more is 422.

Runs are derandomized (the same examples on every run) and bounded (40 examples per property).
"""

from __future__ import annotations

import json
import re
import string
import uuid
from collections.abc import Callable
from typing import Any

import pytest
import requests
from hypothesis import HealthCheck, event, example, given, settings
from hypothesis import strategies as st

from tests.security.jobs import error_parts as error_of

pytestmark = pytest.mark.sandbox

PROPERTY_SETTINGS = settings(
    max_examples=40, deadline=None, derandomize=True, print_blob=True,
    # Requests go to a real daemon (slow by Hypothesis' measure), and some examples are big on
    # purpose (contents and args at their maximum sizes).
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)

LIMIT_NAMES = ("cpus", "time", "memory", "tmpfs", "filesize", "file_descriptors", "processes",
               "stdout_max_size", "stderr_max_size", "network")
# Limits whose validator is `minimum 1` (the rest accept 0).
MIN_ONE = {"cpus", "time", "memory", "filesize", "file_descriptors", "processes"}
U64_MAX = 2**64 - 1

FILE_NAME_ALPHABET = string.ascii_letters + string.digits + "._-"
ENV_NAME_ALPHABET = string.ascii_letters + string.digits + "_"
FILE_NAME_RE = re.compile(r"[a-zA-Z0-9._-]{1,32}")
ENV_NAME_RE = re.compile(r"[a-zA-Z0-9_]{1,64}")

# Variables the run script, bash or Python set or interpret themselves: a request may set them,
# but what the program sees is then not (only) the request's business. PATH comes from the run
# script; PWD, OLDPWD, SHLVL and _ from bash; LC_CTYPE from Python's C-locale coercion (PEP 538).
ADDED_BY_THE_ENVIRONMENT = {"PATH", "PWD", "OLDPWD", "SHLVL", "_", "LC_CTYPE"}
INTERPRETED = {"ENV", "IFS", "PS4", "CDPATH", "GLOBIGNORE", "SHELLOPTS", "BASHOPTS",
               "POSIXLY_CORRECT", "LANG", "LANGUAGE", "TZ"}
INTERPRETED_PREFIXES = ("PYTHON", "BASH", "LC_", "LD_")

# Prints, as JSON, everything the run step received. The program's own directory (/program, on
# sys.path first) holds files named by the request, so it is dropped before anything is imported.
ECHO = """\
import sys
del sys.path[0]
import json, os


def read_dir(path):
    files = {}
    for name in os.listdir(path):
        with open(os.path.join(path, name), "rb") as f:
            files[name] = f.read().decode("utf-8")
    return files


echo = {
    "main": os.path.basename(sys.argv[0]),
    "args": [os.fsencode(arg).decode("utf-8") for arg in sys.argv[1:]],
    "stdin": sys.stdin.buffer.read().decode("utf-8"),
    "box": read_dir("."),
    "program": read_dir("/program"),
    "env": {k.decode("utf-8"): v.decode("utf-8") for k, v in os.environb.items()},
}
sys.stdout.buffer.write(json.dumps(echo, ensure_ascii=False).encode("utf-8"))
"""
STDOUT_MAX = 8_000_000  # enough for the echo of every file, arg and stdin at their maximums


# ------------------------------------------------------------------------------------ fixtures


@pytest.fixture(scope="module")
def api(daemon_factory: Callable[..., Any]) -> Any:
    """A daemon of our own (large stdout, so that the echo of big inputs fits), and a session."""
    daemon = daemon_factory(RUN_LIMITS__TIME="10", RUN_LIMITS__STDOUT_MAX_SIZE=str(STDOUT_MAX))
    session = requests.Session()
    yield Api(daemon.url, session, daemon.get("/config").json())
    session.close()


class Api:
    def __init__(self, url: str, session: requests.Session, config: dict[str, Any]) -> None:
        self.url = url
        self.session = session
        self.config = config

    def post(self, path: str, body: Any) -> requests.Response:
        response = self.session.post(self.url + path, json=body, timeout=120)
        assert response.status_code < 500, (response.status_code, response.text, body)
        assert response.headers["content-type"] == "application/json", response.headers
        event(f"{path.split('/')[1]} -> {response.status_code} {response.json().get('error', '')}".strip())
        return response


# ------------------------------------------------------------------------------------ strategies

# Any Unicode scalar value. Lone surrogates are not text; JSON can only carry them as `\\ud800`
# escapes, which the API refuses (test_lone_surrogates_are_refused).
TEXT_CHARS = st.characters(exclude_categories=["Cs"])
NO_NUL_CHARS = st.characters(exclude_categories=["Cs"], exclude_characters="\0")


def text_up_to(maximum: int, chars: st.SearchStrategy[str] = TEXT_CHARS) -> st.SearchStrategy[str]:
    """Mostly short texts, sometimes one at (or just under) `maximum` characters."""
    return st.one_of(
        st.text(chars, max_size=min(maximum, 300)),
        st.builds(lambda c, n: c * n, chars, st.integers(max(0, maximum - 3), maximum)),
    )


file_names = st.text(FILE_NAME_ALPHABET, min_size=1, max_size=32).filter(lambda n: set(n) != {"."})
file_lists = st.lists(st.fixed_dictionaries({"name": file_names, "content": text_up_to(65536)}),
                      max_size=10, unique_by=lambda f: f["name"])


def plain_env_name(name: str) -> bool:
    return (name not in ADDED_BY_THE_ENVIRONMENT and name not in INTERPRETED
            and not name.startswith(INTERPRETED_PREFIXES))


env_names = st.text(ENV_NAME_ALPHABET, min_size=1, max_size=64).filter(plain_env_name)
env_lists = st.lists(st.fixed_dictionaries({"name": env_names, "value": text_up_to(256, NO_NUL_CHARS)}),
                     max_size=16, unique_by=lambda v: v["name"])
arg_lists = st.lists(text_up_to(4096, NO_NUL_CHARS), max_size=100)


@st.composite
def safe_limits(draw: st.DrawFn, maximum: dict[str, Any]) -> dict[str, Any]:
    """Limits within the maximums that the echo program can live with; each may be left out."""
    lowest = {"cpus": 1, "time": 5, "memory": 64, "tmpfs": 0, "filesize": 1, "file_descriptors": 16,
              "processes": 2, "stdout_max_size": STDOUT_MAX * 3 // 4, "stderr_max_size": 0}
    limits: dict[str, Any] = {}
    for name in LIMIT_NAMES:
        if draw(st.booleans()):
            continue
        if name == "network":
            limits[name] = draw(st.none() | st.just(False))
        else:
            limits[name] = draw(st.none() | st.integers(lowest[name], maximum[name]))
    return limits


def limit_value(name: str, maximum: int | bool) -> st.SearchStrategy[Any]:
    """Values for one limit: none, within, above the maximum, and beyond what parses."""
    if name == "network":
        return st.none() | st.booleans()
    assert isinstance(maximum, int)
    lowest = 1 if name in MIN_ONE else 0
    return st.one_of(
        st.none(),
        st.integers(lowest, maximum),
        st.integers(maximum + 1, 2 * maximum + 10),
        st.integers(maximum + 1, U64_MAX),
        st.sampled_from([lowest - 1, -1, U64_MAX, U64_MAX + 1, 2**70]),
    )


@st.composite
def any_limits(draw: st.DrawFn, maximum: dict[str, Any]) -> dict[str, Any]:
    """Limits all within the maximums, or some above them, or some no u64 limit can have, or
    anything at all."""
    names = draw(st.lists(st.sampled_from(LIMIT_NAMES), unique=True))
    mode = draw(st.sampled_from(["within", "within", "above", "above", "unparsable", "anything"]))
    limits: dict[str, Any] = {}
    for name in names:
        if mode == "anything":
            limits[name] = draw(limit_value(name, maximum[name]))
        elif name == "network":
            limits[name] = draw(st.none() | st.just(False))
        else:
            limits[name] = draw(st.none() | st.integers(1 if name in MIN_ONE else 0, maximum[name]))
    if mode == "above":
        for name in draw(st.lists(st.sampled_from(LIMIT_NAMES), min_size=1, unique=True)):
            limits[name] = True if name == "network" else draw(st.integers(maximum[name] + 1, U64_MAX))
    if mode == "unparsable":
        name = draw(st.sampled_from(LIMIT_NAMES[:-1]))
        lowest = 1 if name in MIN_ONE else 0
        limits[name] = draw(st.sampled_from([lowest - 1, -(2**63), U64_MAX + 1, 2**70]))
    return limits


# ------------------------------------------------------------------------------------ oracles


def resolved(requested: dict[str, Any] | None, maximum: dict[str, Any]) -> dict[str, Any]:
    """The limits a job gets: the requested value, or the maximum."""
    requested = requested or {}
    return {name: maximum[name] if requested.get(name) is None else requested[name]
            for name in LIMIT_NAMES}


def unparsable(limits: dict[str, Any] | None) -> bool:
    """Does a limit fail the u64 type or its `minimum`?"""
    for name, value in (limits or {}).items():
        if isinstance(value, int) and not isinstance(value, bool):
            if value < (1 if name in MIN_ONE else 0) or value > U64_MAX:
                return True
    return False


def exceeded(limits: dict[str, Any] | None, maximum: dict[str, Any]) -> list[dict[str, Any]]:
    """Every limit above its maximum, in field order, as the API lists them."""
    return [{"name": name, "max_value": int(maximum[name])} for name in LIMIT_NAMES
            if (limits or {}).get(name) is not None and limits[name] > maximum[name]]  # type: ignore[index]


def assert_names_the_limits(message: str, requested: dict[str, Any], too_high: list[dict[str, Any]]) -> None:
    """A limits error's message names every limit above its maximum, with the value asked for
    (for a number; `network` is a flag)."""
    for item in too_high:
        assert f"`{item['name']}`" in message, (item, message)
        value = requested[item["name"]]
        if not isinstance(value, bool):
            assert f"{value} requested" in message, (item, message)


def echo_of(result: dict[str, Any]) -> dict[str, Any]:
    assert result["status"] == 0 and result["exceeded"] == [], result
    echo: dict[str, Any] = json.loads(result["stdout"])
    return echo


def assert_echo(echo: dict[str, Any], *, main: str, build_files: list[dict[str, str]],
                stdin: str | None, args: list[str], files: list[dict[str, str]],
                env_vars: list[dict[str, str]]) -> None:
    """The program saw exactly what it was sent."""
    assert echo["main"] == main
    assert echo["args"] == args
    assert echo["stdin"] == (stdin or "")
    assert echo["box"] == {f["name"]: f["content"] for f in files}
    assert echo["program"] == {main: ECHO, **{f["name"]: f["content"] for f in build_files}}
    sent = {v["name"]: v["value"] for v in env_vars}
    assert {name: echo["env"].get(name) for name in sent} == sent
    assert set(echo["env"]) - set(sent) <= ADDED_BY_THE_ENVIRONMENT, echo["env"]


# ------------------------------------------------------------------------------------ properties


@PROPERTY_SETTINGS
@given(data=st.data(), main_name=st.none() | file_names, build_files=file_lists,
       build_env=env_lists, stdin=st.none() | text_up_to(65536), args=arg_lists, files=file_lists,
       env_vars=env_lists, two_steps=st.booleans())
def test_valid_requests_round_trip(api: Api, data: st.DataObject, main_name: str | None,
                                   build_files: list[dict[str, str]], build_env: list[dict[str, str]],
                                   stdin: str | None, args: list[str], files: list[dict[str, str]],
                                   env_vars: list[dict[str, str]], two_steps: bool) -> None:
    """Random valid files, args, stdin, env vars and limits: 200, and the program sees them all."""
    main = main_name or "code.py"
    build_files = [f for f in build_files if f["name"] != main]  # a clash is the next test's business
    run_limits = data.draw(safe_limits(api.config["run_limits"]), label="run_limits")
    build = {"environment": "python", "main_file": {"name": main_name, "content": ECHO},
             "files": build_files, "env_vars": build_env}
    run = {"stdin": stdin, "args": args, "files": files, "env_vars": env_vars, "run_limits": run_limits}
    if two_steps:
        built = api.post("/programs", build)
        assert built.status_code == 201, built.text
        assert built.json()["compile_result"] is None  # python has no compile step
        response = api.post(f"/programs/{built.json()['program_id']}/run", run)
        assert response.status_code == 200, response.text
        result = response.json()
    else:
        response = api.post("/run", {"build": build, "run": run})
        assert response.status_code == 200, response.text
        assert response.json()["build"] is None
        result = response.json()["run"]
    assert result["limits"] == resolved(run_limits, api.config["run_limits"])
    assert_echo(echo_of(result), main=main, build_files=build_files, stdin=stdin, args=args,
                files=files, env_vars=env_vars)


@PROPERTY_SETTINGS
@given(data=st.data())
def test_limits_within_and_beyond_the_maximums(api: Api, data: st.DataObject) -> None:
    """POST /run with random compile and run limits: 422 for values no limit can have, else the
    exact `compile_limits_exceeded` or `run_limits_exceeded` list, else 200 with those limits."""
    compile_limits = data.draw(st.none() | any_limits(api.config["compile_limits"]), label="compile_limits")
    run_limits = data.draw(st.none() | any_limits(api.config["run_limits"]), label="run_limits")
    # A program never built before: compile limits are only checked for new programs.
    code = f"# {uuid.uuid4()}\nprint('ok')\n"
    response = api.post("/run", {
        "build": {"environment": "python", "main_file": {"content": code},
                  "compile_limits": compile_limits},
        "run": {"run_limits": run_limits},
    })
    if unparsable(compile_limits) or unparsable(run_limits):
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "unprocessable_content"
        return
    too_high_compile = exceeded(compile_limits, api.config["compile_limits"])
    too_high_run = exceeded(run_limits, api.config["run_limits"])
    if too_high_compile:
        status, body, message = error_of(response)
        assert (status, body) == (400, {"error": "compile_limits_exceeded", "details": too_high_compile})
        assert_names_the_limits(message, compile_limits or {}, too_high_compile)
    elif too_high_run:
        status, body, message = error_of(response)
        assert (status, body) == (400, {"error": "run_limits_exceeded", "details": too_high_run})
        assert_names_the_limits(message, run_limits or {}, too_high_run)
    else:
        assert response.status_code == 200, response.text
        # The job may fail under tiny limits (1 MB of memory, say); the limits it had are echoed.
        assert response.json()["run"]["limits"] == resolved(run_limits, api.config["run_limits"])


@PROPERTY_SETTINGS
@given(data=st.data())
def test_run_limits_are_checked_before_the_program_exists(api: Api, data: st.DataObject) -> None:
    """POST /programs/{unknown id}/run: the limits decide first (422, then the exact list),
    and only then the unknown program (404)."""
    run_limits = data.draw(st.none() | any_limits(api.config["run_limits"]), label="run_limits")
    program_id = str(uuid.uuid4())
    response = api.post(f"/programs/{program_id}/run", {"run_limits": run_limits})
    too_high = exceeded(run_limits, api.config["run_limits"])
    if unparsable(run_limits):
        assert response.status_code == 422, response.text
        return
    status, body, message = error_of(response)
    if too_high:
        assert (status, body) == (400, {"error": "run_limits_exceeded", "details": too_high})
        assert_names_the_limits(message, run_limits or {}, too_high)
    else:
        assert (status, body) == (404, {"error": "program_not_found"})
        assert f"`{program_id}`" in message


# Names that match their pattern, with dots-only names, duplicates, `_` and the default main
# file name (a clash with it) coming up often; and names that do not match their pattern.
patterned_file_name = st.one_of(st.text(FILE_NAME_ALPHABET, min_size=1, max_size=32),
                                st.sampled_from([".", "..", "...", "code.py", "a", "-", "_.py"]))
patterned_env_name = st.one_of(st.text(ENV_NAME_ALPHABET, min_size=1, max_size=64).filter(plain_env_name),
                               st.sampled_from(["_", "__", "A", "a1"]))
bad_file_name = st.one_of(
    st.sampled_from(["", "a/b", "/", "a\n", "\na", "a\0", "a" * 33, "é", " ", "a b", "../x"]),
    st.text(max_size=40),
).filter(lambda n: FILE_NAME_RE.fullmatch(n) is None)
bad_env_name = st.one_of(
    st.sampled_from(["", "A=B", "A-B", "A\n", "A" * 65, "Ä", "A.B"]),
    st.text(max_size=70),
).filter(lambda n: ENV_NAME_RE.fullmatch(n) is None)


@st.composite
def named_requests(draw: st.DrawFn) -> dict[str, Any]:
    """Main file name, build and run file names, build and run variable names. A scenario makes
    each outcome come up often: all valid, or one name breaking its pattern, or a dots-only
    name, a duplicate, `_`, a build file named like the main file; or all of it mixed at random.
    The test's oracle looks at the names only, not at the scenario."""
    scenario = draw(st.sampled_from(["valid", "pattern", "dots", "duplicate", "underscore", "clash",
                                     "mixed", "mixed"]))
    mixed = scenario == "mixed"
    event(f"scenario {scenario}")
    valid_file = st.text(FILE_NAME_ALPHABET, min_size=1, max_size=32).filter(lambda n: set(n) != {"."})
    valid_env = env_names
    file_name = patterned_file_name if mixed else valid_file
    env_name = patterned_env_name if mixed else valid_env
    names: dict[str, Any] = {
        "main": draw(st.none() | file_name),
        "build_files": draw(st.lists(file_name, max_size=3, unique=not mixed)),
        "run_files": draw(st.lists(file_name, max_size=3, unique=not mixed)),
        "build_env": draw(st.lists(env_name, max_size=3)),
        "run_env": draw(st.lists(env_name, max_size=3)),
    }
    if not mixed:  # a valid base: no clash with the main file either
        names["build_files"] = [n for n in names["build_files"] if n != (names["main"] or "code.py")]

    def insert(key: str, name: str) -> None:
        names[key].insert(draw(st.integers(0, len(names[key]))), name)

    if scenario == "pattern":
        key = draw(st.sampled_from(["main", "build_files", "run_files", "build_env", "run_env"]))
        if key == "main":
            names["main"] = draw(bad_file_name)
        else:
            insert(key, draw(bad_env_name if key.endswith("env") else bad_file_name))
    elif scenario == "dots":
        key = draw(st.sampled_from(["main", "build_files", "run_files"]))
        dots = "." * draw(st.integers(1, 32))
        if key == "main":
            names["main"] = dots
        else:
            insert(key, dots)
    elif scenario == "duplicate":
        key = draw(st.sampled_from(["build_files", "run_files"]))
        if not names[key]:
            names[key].append(draw(valid_file.filter(lambda n: n != (names["main"] or "code.py"))))
        insert(key, draw(st.sampled_from(names[key])))
    elif scenario == "underscore":
        insert(draw(st.sampled_from(["build_env", "run_env"])), "_")
    elif scenario == "clash":
        insert("build_files", names["main"] or "code.py")
    elif mixed:
        for key in ("build_files", "run_files"):
            if names[key] and draw(st.booleans()):
                insert(key, draw(st.sampled_from(names[key])))  # a duplicate
        broken = draw(st.sampled_from([None, "main", "build_files", "run_files", "build_env", "run_env"]))
        if broken == "main":
            names["main"] = draw(bad_file_name)
        elif broken is not None:
            insert(broken, draw(bad_env_name if broken.endswith("env") else bad_file_name))
    return names


def names(main: str | None = None, build_files: tuple[str, ...] = (), run_files: tuple[str, ...] = (),
          build_env: tuple[str, ...] = (), run_env: tuple[str, ...] = ()) -> dict[str, Any]:
    return {"main": main, "build_files": list(build_files), "run_files": list(run_files),
            "build_env": list(build_env), "run_env": list(run_env)}


@PROPERTY_SETTINGS
@given(names=named_requests())
# Every step of the order, whatever the generated examples hit:
@example(names(main="a/b", run_files=("..",), run_env=("_",)))  # pattern before dots and `_`
@example(names(main="..", build_env=("_",)))  # dots before `_`
@example(names(run_files=("x", "x"), run_env=("_",)))  # duplicates before `_`
@example(names(main="a", build_files=("a",), run_env=("_",)))  # `_` before the main file clash
@example(names(build_files=("code.py",)))  # the default main file name clashes too
@example(names(main="code.py", build_files=("b",), run_files=("code.py",), build_env=("__",)))  # valid
def test_names_are_checked_in_the_reference_order(api: Api, names: dict[str, Any]) -> None:
    """422 for a name outside its pattern; then 400 `invalid_file_names` (dots only, duplicates
    in one list); then 400 `invalid_env_vars` (`_`); then 400 `invalid_file_names` for a build
    file named like the main file; else 200 and the program sees exactly its files."""
    main_name: str | None = names["main"]
    build_env: list[str] = names["build_env"]
    run_env: list[str] = names["run_env"]
    build_files = [{"name": n, "content": f"content of {n!r}"} for n in names["build_files"]]
    run_files = [{"name": n, "content": f"content of {n!r}"} for n in names["run_files"]]
    env = {name: f"value of {name}" for name in build_env + run_env}
    body = {
        "build": {"environment": "python", "main_file": {"name": main_name, "content": ECHO},
                  "files": build_files,
                  "env_vars": [{"name": n, "value": env[n]} for n in build_env]},
        "run": {"files": run_files, "env_vars": [{"name": n, "value": env[n]} for n in run_env]},
    }
    response = api.post("/run", body)
    file_names_ = [n for n in [main_name] if n is not None] + [f["name"] for f in build_files + run_files]
    if (not all(FILE_NAME_RE.fullmatch(n) for n in file_names_)
            or not all(ENV_NAME_RE.fullmatch(n) for n in build_env + run_env)):
        assert response.status_code == 422, response.text
        assert response.json()["error"] == "unprocessable_content"
        return

    def only_dots(name: str) -> bool:
        return set(name) == {"."}

    def duplicates(files: list[dict[str, str]]) -> set[str]:
        names = [f["name"] for f in files]
        return {n for n in names if names.count(n) > 1}

    main = main_name or "code.py"
    # The names the message may name (it names one of them; which one is not the oracle's concern).
    bad_names = {n for n in file_names_ if only_dots(n)} | duplicates(build_files) | duplicates(run_files)
    status, error_body, message = error_of(response) if response.status_code != 200 else (200, None, "")
    if bad_names:
        assert (status, error_body) == (400, {"error": "invalid_file_names"})
        assert any(f"file name `{n}`" in message for n in bad_names), (bad_names, message)
    elif "_" in build_env + run_env:
        assert (status, error_body) == (400, {"error": "invalid_env_vars"})
        assert "`_`" in message
    elif main in {f["name"] for f in build_files}:
        assert (status, error_body) == (400, {"error": "invalid_file_names"})
        assert f"file name `{main}`" in message
    else:
        assert response.status_code == 200, response.text
        echo = echo_of(response.json()["run"])
        assert echo["box"] == {f["name"]: f["content"] for f in run_files}
        assert echo["program"] == {main: ECHO, **{f["name"]: f["content"] for f in build_files}}


SIZES = {"stdin": 65536, "content": 65536, "files": 10, "args": 100, "arg": 4096,
         "env_vars": 16, "value": 256}


@PROPERTY_SETTINGS
@given(sizes=st.fixed_dictionaries({k: st.sampled_from([0, v // 2, v - 1, v, v, v + 1])
                                    for k, v in SIZES.items()}),
       char=st.sampled_from(["a", "é", "€", "😀", "\n"]))
def test_sizes_up_to_the_maximums(api: Api, sizes: dict[str, int], char: str) -> None:
    """Lengths count characters (not bytes): up to each documented maximum a request is
    accepted and delivered in full; one more anywhere is 422."""
    files = [{"name": f"f{i}", "content": char * sizes["content"]} for i in range(sizes["files"])]
    args = [char * sizes["arg"] for _ in range(sizes["args"])]
    env_vars = [{"name": f"V{i}", "value": char * sizes["value"]} for i in range(sizes["env_vars"])]
    stdin = char * sizes["stdin"]
    body = {"build": {"environment": "python", "main_file": {"content": ECHO}},
            "run": {"stdin": stdin, "args": args, "files": files, "env_vars": env_vars}}
    response = api.post("/run", body)
    used = {"stdin": sizes["stdin"],
            "content": sizes["content"] if sizes["files"] else 0,
            "files": sizes["files"],
            "args": sizes["args"],
            "arg": sizes["arg"] if sizes["args"] else 0,
            "env_vars": sizes["env_vars"],
            "value": sizes["value"] if sizes["env_vars"] else 0}
    if any(used[k] > SIZES[k] for k in SIZES):
        assert response.status_code == 422, response.text
        return
    assert response.status_code == 200, response.text
    assert_echo(echo_of(response.json()["run"]), main="code.py", build_files=[], stdin=stdin,
                args=args, files=files, env_vars=env_vars)


@pytest.mark.parametrize("field", ["environment", "main_file", "file", "stdin", "arg", "env_value"])
def test_lone_surrogates_are_refused(api: Api, field: str) -> None:
    """A `\\ud800` escape (valid JSON syntax, but no Unicode scalar value) in any string: 422."""
    def text(name: str) -> str:
        return "x" + ("<LONE>" if name == field else "")

    body = {"build": {"environment": "python" + text("environment")[1:],
                      "main_file": {"content": "print(1)#" + text("main_file")}},
            "run": {"stdin": text("stdin"), "args": [text("arg")],
                    "files": [{"name": "f", "content": text("file")}],
                    "env_vars": [{"name": "V", "value": text("env_value")}]}}
    raw = json.dumps(body).replace("<LONE>", "\\ud800")
    assert raw.count("\\ud800") == 1
    response = api.session.post(api.url + "/run", data=raw.encode(), timeout=120,
                                headers={"Content-Type": "application/json"})
    assert response.status_code == 422, response.text
    assert response.json()["error"] == "unprocessable_content"
