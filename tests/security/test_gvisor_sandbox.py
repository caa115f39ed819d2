"""The run-step cases of the security battery against jobs under gVisor (`runsc`), the second
sandbox besides nsjail (sandkasten_py/sandbox/gvisor.py and oci.py).

The `gvisor_daemon` fixture runs the jobs of python, c, bash and javascript under gVisor and the
other environments under nsjail. First we show that the jobs really are gVisor's: they read
gVisor's kernel version in /proc/version, and on the host a job is a `runsc` sandbox (runsc,
runsc-gofer, runsc-sandbox, with the job's bundle below the daemon's `<jobs_dir>-gvisor`) that is
gone once the response is in. Then the same hostile programs as in test_attacks.py,
test_isolation.py and test_network_isolation.py (resource exhaustion RES-01..10, file system
FS-06..10, information INFO-01..04, network NET-01/02, privileges PRIV-01), mostly in Python,
in C and Bash where the attack is natural there, with small limits so that bombs end quickly.
Each test checks that the attack's effect is absent and that the probe itself worked.

What gVisor does differently, and the tests assert as it is:

- `processes` is RLIMIT_NPROC inside gVisor: a fork past it fails with EAGAIN, but `exceeded`
  does not name `processes` (nsjail's pids cgroup does); a fork bomb that keeps trying is
  ended by the time limit.
- `memory` is the job's cgroup, which also holds gVisor's own kernel (the Sentry): the limit
  is `memory` + 100 MB, and the peak memory reported is that of the whole sandbox.
- Processes inside gVisor are not host processes at all: a marker in a job's argv never shows
  on the host; what the host sees of a job are the `runsc` processes of its bundle.
- Writing a read-only place as nobody fails with EACCES (gVisor checks permissions before the
  mount's read-only flag), where nsjail's kernel says EROFS.
- runsc adds `HOME=/` to the job's environment; a connection to an address without a route
  fails with EHOSTUNREACH (not ENETUNREACH); netlink sockets can be opened (gVisor's own
  netlink, which shows only the job's `lo`); there is a `/sys`, gVisor's synthetic one.
- /proc is gVisor's: its version, command line, uptime and load, and /proc/self/mountinfo shows
  no host path; /proc/meminfo's MemTotal is still the host's.
- Jobs asking for `network: true` would be refused with an error, but this daemon's maximum is
  false, so such a request is refused with 400 before any sandbox is chosen; not tested here.
"""

from __future__ import annotations

import errno
import json
import time
import tomllib
import uuid
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import GVISOR_ENVIRONMENTS, settled
from tests.security.jobs import clean_json_stdout, host_processes_with, json_stdout, run

pytestmark = pytest.mark.sandbox

ROOT = Path(__file__).resolve().parents[2]
MB = 1_000_000
MIB = 1024 * 1024
KB = 1024
NOBODY = 65534
OVERHEAD_MB = 100  # what the gVisor runner adds to the job's memory limit for the Sentry
GVISOR_KERNEL = "Linux version 4.4.0 "  # the kernel version gVisor's Sentry claims
LIMITS = {"memory": 128, "time": 3, "processes": 16}
"""Small limits for the bombs."""
SETTLE_S = 10
# Variables bash puts into the environment of what it execs (the run scripts are bash), and
# HOME, which runsc sets when the OCI spec has none.
SHELL_VARIABLES = {"PWD", "SHLVL", "_", "OLDPWD"}
RUNSC_VARIABLES = {"HOME"}
DAEMON_VARIABLES = ("CONFIG_PATH", "HOST", "PORT", "PROGRAMS_DIR", "JOBS_DIR", "ENVIRONMENTS_PATH",
                    "ENABLE_METRICS", "RUN_LIMITS__TIME", "GVISOR__ENVIRONMENTS")


# ------------------------------------------------------------------------------------ helpers


def timed_run(daemon: Any, environment: str, code: str, **run_: Any) -> tuple[dict[str, Any], float]:
    """`run`, plus how long the request took in seconds (for generous safety bounds only)."""
    started = time.monotonic()
    result = run(daemon, environment, code, **run_)
    return result, time.monotonic() - started


def sandboxes_on_host(daemon: Any) -> list[int]:
    """Pids of the host processes of the daemon's gVisor jobs: runsc, runsc-gofer and
    runsc-sandbox, whose command lines name the job's bundle below `<jobs_dir>-gvisor/`."""
    return host_processes_with(f"{daemon.jobs_dir}-gvisor/")


def no_sandbox_is_left(daemon: Any) -> None:
    """No runsc process of the daemon's is left (the daemon cleans up just after answering)."""
    assert settled(lambda: sandboxes_on_host(daemon), [], SETTLE_S) == [], \
        "a runsc process outlived its job's response"


def sandbox_seen_while_running(daemon: Any, job: Future[Any]) -> bool:
    """Poll the host until a runsc process of the daemon's shows up while `job` runs; whether
    one did."""
    while not job.done():
        if sandboxes_on_host(daemon):
            return True
        time.sleep(0.01)  # poll interval, not a wait for a fixed time
    return False


def hello_still_works(daemon: Any) -> None:
    """A following job runs normally."""
    result = run(daemon, "python", "print('hello')", run_limits={"time": 5})
    assert (result["status"], result["stdout"], result["exceeded"]) == (0, "hello\n", []), result


def tmp_files_cap() -> int:
    """`storage_limits.tmp_files` of the repository's config.toml (the daemon's; not in /config)."""
    with open(ROOT / "config.toml", "rb") as file:
        cap: int = tomllib.load(file)["storage_limits"]["tmp_files"]
    return cap


# ------------------------------------------------------------------------------------ under gVisor at all


VERSION_PROBES = {
    "python": "print(open('/proc/version').read(), end='')\n",
    "c": "#include <stdio.h>\nint main(void) {\n    char line[512];\n    FILE *f = fopen(\"/proc/version\", \"r\");\n"
         "    if (f && fgets(line, sizeof line, f)) fputs(line, stdout);\n    return 0;\n}\n",
    "bash": "read -r line < /proc/version\necho \"$line\"\n",
    "javascript": "process.stdout.write(require('fs').readFileSync('/proc/version', 'utf8'));\n",
}


def test_jobs_run_under_gvisor_and_the_others_under_nsjail(gvisor_daemon: Any) -> None:
    """Every environment of GVISOR_ENVIRONMENTS reads gVisor's kernel version in /proc/version,
    not the host's; a ruby job on the same daemon (nsjail) reads the host's."""
    host_version = Path("/proc/version").read_text()
    assert not host_version.startswith(GVISOR_KERNEL), "the host claims gVisor's kernel version"
    assert set(VERSION_PROBES) == set(GVISOR_ENVIRONMENTS)
    for environment, code in VERSION_PROBES.items():
        result = run(gvisor_daemon, environment, code, run_limits={"time": 5})
        assert result["status"] == 0, (environment, result)
        assert result["stdout"].startswith(GVISOR_KERNEL), (environment, result)
        assert result["stdout"].strip() != host_version.strip(), environment
    ruby = run(gvisor_daemon, "ruby", "print File.read('/proc/version')", run_limits={"time": 5})
    assert (ruby["status"], ruby["stdout"]) == (0, host_version), ruby


def test_a_job_is_a_runsc_sandbox_on_the_host_and_gone_after_its_response(gvisor_daemon: Any) -> None:
    """While a job runs, the host has runsc processes for its bundle below `<jobs_dir>-gvisor`
    (this is also what the leftover checks below look for); after the response there are none."""
    no_sandbox_is_left(gvisor_daemon)
    with ThreadPoolExecutor(max_workers=1) as pool:
        job = pool.submit(run, gvisor_daemon, "python", "import time\ntime.sleep(1)\nprint('slept')\n",
                          run_limits={"time": 5})
        seen = sandbox_seen_while_running(gvisor_daemon, job)
        result = job.result()
    assert (result["status"], result["stdout"]) == (0, "slept\n"), result
    assert seen, "no runsc process of the job was seen on the host while it ran"
    no_sandbox_is_left(gvisor_daemon)


# ------------------------------------------------------------------------------------ RES-01 fork bombs


@pytest.mark.catalogue("RES-01")
def test_fork_loop_gets_eagain_at_the_processes_limit(gvisor_daemon: Any) -> None:
    """Python forks sleeping children until fork() fails: EAGAIN once `processes` processes
    exist (RLIMIT_NPROC in gVisor's kernel), long before the time limit. gVisor's limit is not
    reported: `exceeded` stays empty (under nsjail it names `processes`). The children are
    gone with the job."""
    code = """
import json, os, time
forked = 0
while True:
    try:
        pid = os.fork()
    except OSError as e:
        print(json.dumps({"forked": forked, "errno": e.errno}))
        break
    if pid == 0:
        time.sleep(60)
        os._exit(0)
    forked += 1
"""
    result, elapsed = timed_run(gvisor_daemon, "python", code, run_limits=LIMITS)
    assert json.loads(result["stdout"]) == {"forked": LIMITS["processes"] - 1, "errno": errno.EAGAIN}, result
    assert (result["status"], result["exceeded"]) == (0, []), result
    assert elapsed < LIMITS["time"], "the job waited for its sleeping children"
    no_sandbox_is_left(gvisor_daemon)
    hello_still_works(gvisor_daemon)


FORK_BOMBS = {
    "bash": ":(){ :|:& };:\nwhile :; do :; done\n",
    "c": "#include <unistd.h>\nint main(void) {\n    for (;;) fork();\n}\n",
}


@pytest.mark.catalogue("RES-01")
@pytest.mark.parametrize("environment", sorted(FORK_BOMBS))
def test_fork_bomb_is_held_until_the_time_limit(gvisor_daemon: Any, environment: str) -> None:
    """A fork bomb that ignores every failure (bash's `:(){ :|:& };:` with the shell kept
    spinning, C's `for (;;) fork();`) is held at the processes limit and ended by the time
    limit; the response comes back promptly, the job's runsc processes (seen on the host while
    it ran) are gone, its processes never were host processes, and the next job runs.

    Seen under gVisor (about one C bomb in 40): the Sentry's host threads reach the cgroup's
    pids limit, the runner's backstop (`processes` x 16 + 512), and the whole sandbox dies
    before the time limit with status 2 (the Go runtime's fatal exit), `exceeded` naming
    `processes`. Still contained, so that outcome is accepted too."""
    marker = f"forkbomb-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=1) as pool:
        bomb = pool.submit(timed_run, gvisor_daemon, environment, FORK_BOMBS[environment],
                           args=[marker], run_limits=LIMITS)
        seen = sandbox_seen_while_running(gvisor_daemon, bomb)
        assert host_processes_with(marker) == [], "a process of the job is a host process"
        result, elapsed = bomb.result()
    assert seen, "the bomb's sandbox was not seen on the host"
    if result["exceeded"] == ["processes"]:  # the sandbox died at the pids backstop
        assert result["status"] not in (0, 137), result
    else:
        assert result["status"] == 137 and "time" in result["exceeded"], result
        assert set(result["exceeded"]) <= {"time", "processes"}, result
    if environment == "bash":
        assert "Resource temporarily unavailable" in result["stderr"], result
    assert elapsed < LIMITS["time"] + 5, "the response did not come back soon after the time limit"
    no_sandbox_is_left(gvisor_daemon)
    assert host_processes_with(marker) == []
    hello_still_works(gvisor_daemon)


# ------------------------------------------------------------------------------------ RES-03 memory


MEMORY_BOMBS = {
    "python": "blocks = []\nwhile True:\n    blocks.append(bytearray(1 << 20))\n",
    "c": "#include <stdlib.h>\n#include <string.h>\nint main(void) {\n    for (;;) {\n"
         "        char *p = malloc(1 << 20);\n        if (p) memset(p, 1, 1 << 20);\n    }\n}\n",
}


@pytest.mark.catalogue("RES-03")
@pytest.mark.parametrize("environment", sorted(MEMORY_BOMBS))
def test_memory_bomb_is_killed_at_the_memory_limit(gvisor_daemon: Any, environment: str) -> None:
    """Touching memory without end: killed (137) with `memory` in `exceeded`, before the time
    limit. The cgroup holds gVisor's kernel too, so the peak reported is at most `memory` plus
    the runner's 100 MB."""
    result, elapsed = timed_run(gvisor_daemon, environment, MEMORY_BOMBS[environment], run_limits=LIMITS)
    assert (result["status"], result["exceeded"]) == (137, ["memory"]), result
    assert result["resource_usage"]["memory"] <= (LIMITS["memory"] + OVERHEAD_MB) * MB // KB + 1024, result
    assert elapsed < LIMITS["time"] + 2
    hello_still_works(gvisor_daemon)


# ------------------------------------------------------------------------------------ RES-05 output floods


FLOODS = [
    ("python", "import sys\nwhile True:\n    sys.stdout.write('x' * 65536)\n", "stdout"),
    ("python", "import sys\nwhile True:\n    sys.stderr.write('x' * 65536)\n", "stderr"),
    ("bash", "yes\n", "stdout"),
]


@pytest.mark.catalogue("RES-05")
@pytest.mark.parametrize(("environment", "code", "stream"), FLOODS, ids=["python-stdout", "python-stderr", "bash-yes"])
def test_output_flood_is_cut_at_its_cap(gvisor_daemon: Any, environment: str, code: str, stream: str) -> None:
    """Writing stdout or stderr without end: the job is ended at the cap, which `exceeded`
    names; exactly the cap is kept, and it ends well before the time limit."""
    cap = 4096
    result, elapsed = timed_run(gvisor_daemon, environment, code,
                                run_limits={**LIMITS, "time": 5, f"{stream}_max_size": cap})
    assert (result["status"], result["exceeded"]) == (137, [f"{stream}_max_size"]), result
    assert len(result[stream]) == cap, len(result[stream])
    assert set(result[stream]) == ({"x"} if environment == "python" else {"y", "\n"})
    assert result["resource_usage"]["time"] < 3000, result
    assert elapsed < 3


# ------------------------------------------------------------------------------------ RES-06 file size


@pytest.mark.catalogue("RES-06")
def test_huge_file_python_gets_efbig_at_the_filesize_limit(gvisor_daemon: Any) -> None:
    """Python writes /tmp/big until it fails: EFBIG at exactly `filesize` MiB (RLIMIT_FSIZE,
    with SIGXFSZ ignored by Python); `exceeded` names `filesize`."""
    code = """
import json
written = 0
try:
    with open("/tmp/big", "wb") as f:
        while True:
            f.write(b"x" * 65536)
            f.flush()
            written += 65536
except OSError as e:
    print(json.dumps({"errno": e.errno, "written": written}))
"""
    result = run(gvisor_daemon, "python", code, run_limits={**LIMITS, "filesize": 2})
    assert json_stdout(result) == {"errno": errno.EFBIG, "written": 2 * MIB}, result
    assert result["exceeded"] == ["filesize"], result


@pytest.mark.catalogue("RES-06")
def test_huge_file_c_is_killed_by_sigxfsz(gvisor_daemon: Any) -> None:
    """A C program writing /tmp/big without end is killed by SIGXFSZ (128 + 25) at the limit;
    `exceeded` names `filesize`."""
    code = r"""
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>
int main(void) {
    static char block[65536];
    memset(block, 'x', sizeof block);
    int fd = open("/tmp/big", O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (fd < 0) { perror("open"); return 1; }
    for (;;) if (write(fd, block, sizeof block) < 0) { printf("write failed\n"); return 0; }
}
"""
    result = run(gvisor_daemon, "c", code, run_limits={**LIMITS, "filesize": 2})
    assert (result["status"], result["stdout"], result["exceeded"]) == (153, "", ["filesize"]), result


# ------------------------------------------------------------------------------------ RES-07 many files


@pytest.mark.catalogue("RES-07")
def test_many_files_in_tmp_end_with_enospc_and_the_next_tmp_is_empty(gvisor_daemon: Any) -> None:
    """A C program creates empty files in /tmp until it fails: ENOSPC at the daemon's
    `storage_limits.tmp_files` (the host tmpfs behind /tmp caps its inodes). The daemon
    answers, and the next job gets an empty /tmp that works. (About 3 s: every file creation
    goes through gVisor's file server.)"""
    code = r"""
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <unistd.h>
int main(void) {
    char path[64];
    for (long n = 0;; n++) {
        snprintf(path, sizeof path, "/tmp/%ld", n);
        int fd = open(path, O_CREAT | O_WRONLY, 0600);
        if (fd < 0) {
            printf("{\"errno\": %d, \"files\": %ld}\n", errno, n);
            return 0;
        }
        close(fd);
    }
}
"""
    result, elapsed = timed_run(gvisor_daemon, "c", code, run_limits={**LIMITS, "time": 10, "tmpfs": 1})
    assert clean_json_stdout(result) == {"errno": errno.ENOSPC, "files": tmp_files_cap()}, result
    assert elapsed < 10 + 5
    after = run(gvisor_daemon, "python", "import os\nopen('/tmp/x', 'w').write('x')\nprint(os.listdir('/tmp'))\n",
                run_limits={"time": 5, "tmpfs": 1})
    assert (after["status"], after["stdout"]) == (0, "['x']\n"), after


@pytest.mark.catalogue("RES-07")
def test_many_small_files_fill_a_small_tmpfs(gvisor_daemon: Any) -> None:
    """Files of 1000 bytes in a /tmp of 1 MB: ENOSPC after a few hundred (4 KiB pages each)."""
    code = """
import json
count = 0
try:
    while True:
        with open(f"/tmp/f{count}", "wb") as f:
            f.write(b"x" * 1000)
        count += 1
except OSError as e:
    print(json.dumps({"errno": e.errno, "count": count}))
"""
    out = clean_json_stdout(run(gvisor_daemon, "python", code, run_limits={**LIMITS, "tmpfs": 1}))
    assert out["errno"] == errno.ENOSPC, out
    assert 50 <= out["count"] <= 1000, out


# ------------------------------------------------------------------------------------ RES-08 time


SPINNERS = [
    ("python", "while True:\n    pass\n", True),
    ("python", "import time\ntime.sleep(1000)\n", False),
    ("bash", "sleep 1000\n", False),
]


@pytest.mark.catalogue("RES-08")
@pytest.mark.parametrize(("environment", "code", "busy"), SPINNERS, ids=["python-spin", "python-sleep", "bash-sleep"])
def test_time_limit_ends_spinning_and_sleeping_jobs(gvisor_daemon: Any, environment: str, code: str,
                                                    busy: bool) -> None:
    """A busy loop and a sleep forever are both ended by the wall-clock limit: 137, only `time`
    in `exceeded`, soon after the limit. The sleeper uses little CPU (gVisor's start included)."""
    limit = 2
    result, elapsed = timed_run(gvisor_daemon, environment, code, run_limits={**LIMITS, "time": limit})
    assert (result["status"], result["exceeded"]) == (137, ["time"]), result
    assert result["resource_usage"]["time"] >= limit * 1000, result
    if not busy:
        assert result["resource_usage"]["cpu_time"] < 1000, result
    assert elapsed < limit + 5, "the job was not stopped soon after its time limit"


# ------------------------------------------------------------------------------------ RES-09 descriptors


@pytest.mark.catalogue("RES-09")
def test_descriptors_run_out_with_emfile_at_the_limit(gvisor_daemon: Any) -> None:
    """Opening /dev/null until it fails: EMFILE once `file_descriptors` descriptors are open
    (RLIMIT_NOFILE, enforced by gVisor's kernel), the highest being the limit minus one."""
    code = """
import json, os
fds = []
try:
    while True:
        fds.append(os.open("/dev/null", os.O_RDONLY))
except OSError as e:
    print(json.dumps({"errno": e.errno, "opened": len(fds), "highest": max(fds)}))
"""
    out = clean_json_stdout(run(gvisor_daemon, "python", code, run_limits={**LIMITS, "file_descriptors": 32}))
    assert out == {"errno": errno.EMFILE, "opened": 32 - 3, "highest": 31}, out


# ------------------------------------------------------------------------------------ RES-10 orphans


ORPHANS = {
    "python": """
import os, signal, sys, time
MARKER = {marker!r}
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        signal.signal(signal.SIGTERM, signal.SIG_IGN)
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        os.execv(sys.executable, [MARKER, "-c", "import time\\nwhile True: time.sleep(1000)"])
    os._exit(0)
deadline = time.monotonic() + 5
while time.monotonic() < deadline:
    for p in os.listdir("/proc"):
        if p.isdigit():
            try:
                argv0 = open(f"/proc/{{p}}/cmdline", "rb").read().split(b"\\0")[0]
            except OSError:
                continue
            if argv0 == MARKER.encode():
                print("started", flush=True)
                time.sleep(1)  # long enough for the test to see the sandbox on the host
                sys.exit(0)
print("not started")
sys.exit(1)
""",
    "bash": """
M={marker}
( ( trap '' TERM HUP; exec -a "$M" sleep 1000 ) & )
while (( SECONDS < 5 )); do
    for f in /proc/[0-9]*/cmdline; do
        if IFS= read -r -d '' argv0 < "$f" 2> /dev/null && [[ $argv0 == "$M" ]]; then
            echo started
            sleep 1  # long enough for the test to see the sandbox on the host
            exit 0
        fi
    done
done
echo "not started"
exit 1
""",
}


@pytest.mark.catalogue("RES-10")
@pytest.mark.parametrize("environment", sorted(ORPHANS))
def test_a_detached_orphan_dies_with_its_job(gvisor_daemon: Any, environment: str) -> None:
    """A double-forked child in its own session that ignores SIGTERM and SIGHUP, with a unique
    argv[0], is seen running inside; the job exits and the response comes back at once, not at
    the time limit. The orphan never was a host process (processes under gVisor are the
    Sentry's), and the job's runsc processes, seen on the host while it ran, are all gone."""
    marker = f"orphan-marker-{uuid.uuid4()}"
    with ThreadPoolExecutor(max_workers=1) as pool:
        job = pool.submit(timed_run, gvisor_daemon, environment, ORPHANS[environment].format(marker=marker),
                          run_limits={"time": 8})
        seen = sandbox_seen_while_running(gvisor_daemon, job)
        assert host_processes_with(marker) == [], "the orphan is a host process"
        result, elapsed = job.result()
    assert (result["status"], result["stdout"], result["exceeded"]) == (0, "started\n", []), result
    assert seen, "the job's sandbox was not seen on the host"
    assert elapsed < 6, "the response waited for the orphan"
    no_sandbox_is_left(gvisor_daemon)
    assert host_processes_with(marker) == []


# ------------------------------------------------------------------------------------ file system


@pytest.mark.catalogue("FS-06")
def test_the_daemons_directories_and_root_are_not_visible(gvisor_daemon: Any) -> None:
    """The daemon's programs and jobs directories (and the gVisor bundles next to the latter),
    their parent, the daemon's log and code, and /root do not exist inside, though the host
    has them; the job's own files (/box, /program) do."""
    paths = [str(gvisor_daemon.programs_dir), str(gvisor_daemon.jobs_dir), f"{gvisor_daemon.jobs_dir}-gvisor",
             str(gvisor_daemon.programs_dir.parent), str(gvisor_daemon.log_path), str(ROOT / "config.toml"),
             str(ROOT / "sandkasten_py"), "/root"]
    assert all(Path(p).exists() for p in paths), "the probe's paths should exist on the host"
    code = f"""
import json, os
print(json.dumps({{"visible": [p for p in {paths!r} if os.path.lexists(p)],
                  "own": [os.path.exists(p) for p in ("/box", "/program/code.py")]}}))
"""
    assert clean_json_stdout(run(gvisor_daemon, "python", code, run_limits={"time": 5})) == \
        {"visible": [], "own": [True, True]}


@pytest.mark.catalogue("FS-07")
def test_program_usr_and_root_cannot_be_written(gvisor_daemon: Any) -> None:
    """At run time /program, /usr, /, /box and /etc cannot be written: creating a file or a
    directory fails with EACCES under gVisor (its permission check comes before the read-only
    mount; nsjail says EROFS), while /tmp takes the same writes (the probe can write). Nothing
    reaches the program's directory on the host."""
    name = f"written-{uuid.uuid4().hex}"
    code = f"""
import json, os
out = {{}}
for directory in ("/program", "/usr", "/", "/box", "/etc", "/tmp"):
    path = os.path.join(directory, {name!r})
    try:
        with open(path, "w") as f:
            f.write("x")
        out[path] = "written"
    except OSError as e:
        out[path] = e.errno
    try:
        os.mkdir(path + ".d")
        out[path + ".d"] = "made"
    except OSError as e:
        out[path + ".d"] = e.errno
print(json.dumps(out))
"""
    out = clean_json_stdout(run(gvisor_daemon, "python", code, run_limits={"time": 5}))
    tmp = {f"/tmp/{name}": "written", f"/tmp/{name}.d": "made"}
    assert {k: v for k, v in out.items() if k in tmp} == tmp, out
    refused = {k: v for k, v in out.items() if k not in tmp}
    assert len(refused) == 10 and set(refused.values()) <= {errno.EROFS, errno.EACCES}, out
    assert list(gvisor_daemon.programs_dir.rglob(f"{name}*")) == []


@pytest.mark.catalogue("FS-08")
def test_only_stdin_stdout_and_stderr_are_open(gvisor_daemon: Any) -> None:
    """No descriptor of runsc, the gate or the daemon reaches the job: Python finds only 0, 1
    and 2 open; C lists /proc/self/fd and finds 0, 1, 2 and the listing's own descriptor."""
    code = """
import json, os
open_fds = []
for fd in range(1024):
    try:
        os.fstat(fd)
        open_fds.append(fd)
    except OSError:
        pass
print(json.dumps(open_fds))
"""
    assert clean_json_stdout(run(gvisor_daemon, "python", code, run_limits={"time": 5})) == [0, 1, 2]
    c_code = r"""
#include <dirent.h>
#include <stdio.h>
int main(void) {
    DIR *d = opendir("/proc/self/fd");
    if (!d) { perror("opendir"); return 1; }
    printf("{\"own\": %d, \"listed\": [", dirfd(d));
    int first = 1;
    for (struct dirent *e; (e = readdir(d)) != NULL;) {
        if (e->d_name[0] == '.') continue;
        printf("%s%s", first ? "" : ", ", e->d_name);
        first = 0;
    }
    printf("]}\n");
    return 0;
}
"""
    out = clean_json_stdout(run(gvisor_daemon, "c", c_code, run_limits={"time": 5}))
    assert sorted(out["listed"]) == sorted([0, 1, 2, out["own"]]), out


@pytest.mark.catalogue("FS-10")
def test_tmp_does_not_carry_over_to_the_next_run(gvisor_daemon: Any) -> None:
    """A file and a directory a run leaves in /tmp are not in the next run's /tmp."""
    marker = f"left-behind-{uuid.uuid4().hex}"
    first = run(gvisor_daemon, "python", f"""
import os
open("/tmp/{marker}", "w").write("x")
os.mkdir("/tmp/dir-{marker}")
print(sorted(os.listdir("/tmp")))
""", run_limits={"time": 5})
    assert (first["status"], first["stdout"]) == (0, f"{sorted([marker, f'dir-{marker}'])}\n"), first
    second = run(gvisor_daemon, "python", "import os\nprint(os.listdir('/tmp'))\n", run_limits={"time": 5})
    assert (second["status"], second["stdout"]) == (0, "[]\n"), second


# ------------------------------------------------------------------------------------ INFO-01/02 environment


def daemon_environ(daemon: Any) -> dict[str, str]:
    raw = Path(f"/proc/{daemon.process.pid}/environ").read_bytes().split(b"\0")
    return dict(item.decode(errors="replace").split("=", 1) for item in raw if b"=" in item)


@pytest.mark.catalogue("INFO-01", "INFO-02")
def test_python_environment_has_only_the_requested_variables(gvisor_daemon: Any) -> None:
    """os.environ and /proc/1/environ hold the requested variables, PATH, what bash adds, and
    the `HOME=/` runsc adds - no variable and no value of the daemon's."""
    code = """
import json, os
with open("/proc/1/environ", "rb") as f:
    pid1 = dict(item.split("=", 1) for item in f.read().decode().split("\\0") if item)
print(json.dumps({"environ": dict(os.environ), "pid1": pid1}))
"""
    requested = {"FOO": "bar", "SANDKASTEN_TEST_VALUE": "a value with spaces"}
    out = clean_json_stdout(run(gvisor_daemon, "python", code, run_limits={"time": 5},
                                env_vars=[{"name": k, "value": v} for k, v in requested.items()]))
    allowed = set(requested) | {"PATH"} | SHELL_VARIABLES | RUNSC_VARIABLES
    host = daemon_environ(gvisor_daemon)
    for view in ("environ", "pid1"):
        env = out[view]
        assert set(env) <= allowed, f"{view}: unexpected variables {sorted(set(env) - allowed)}"
        assert {k: env.get(k) for k in requested} == requested, view
        assert "PATH" in env and env.get("HOME", "/") == "/", env
        assert not set(env) & set(DAEMON_VARIABLES), f"{view}: daemon variables leaked"
        for key, value in env.items():
            if key not in requested:
                assert host.get(key) != value, f"{view}: the daemon's {key} leaked into the job"


@pytest.mark.catalogue("INFO-02")
def test_bash_environment_has_only_the_requested_variables(gvisor_daemon: Any) -> None:
    """`env -0` in bash: the requested variable, PATH, bash's own, the environment's exported
    `xq` function and runsc's HOME."""
    result = run(gvisor_daemon, "bash", "env -0\n", run_limits={"time": 5}, env_vars=[{"name": "FOO", "value": "bar"}])
    assert result["status"] == 0, result
    env = dict(item.split("=", 1) for item in result["stdout"].split("\0") if item)
    allowed = {"FOO", "PATH", "BASH_FUNC_xq%%"} | SHELL_VARIABLES | RUNSC_VARIABLES
    assert env.get("FOO") == "bar" and "PATH" in env, env
    assert set(env) <= allowed, f"unexpected variables {sorted(set(env) - allowed)}"


@pytest.mark.catalogue("INFO-01")
def test_proc_environ_and_cmdline_carry_nothing_of_the_daemon(gvisor_daemon: Any) -> None:
    """/proc/self and /proc/1 environ and cmdline hold no value of the daemon's (its
    directories, port, code); pid 1 is the job's own python3."""
    code = """
import json
out = {}
for path in ("/proc/self/environ", "/proc/1/environ", "/proc/self/cmdline", "/proc/1/cmdline"):
    with open(path, "rb") as f:
        out[path] = f.read().decode(errors="replace")
print(json.dumps(out))
"""
    out = clean_json_stdout(run(gvisor_daemon, "python", code, run_limits={"time": 5},
                                env_vars=[{"name": "SANDKASTEN_PROBE", "value": "visible"}]))
    port = urlsplit(gvisor_daemon.url).port
    daemon_values = [str(gvisor_daemon.programs_dir), str(gvisor_daemon.jobs_dir),
                     str(gvisor_daemon.programs_dir.parent), str(ROOT), "sandkasten_py", "runsc",
                     f":{port}", f"PORT={port}"]
    for path, text in out.items():
        assert not [v for v in daemon_values if v in text], f"{path} shows the daemon's values: {text!r}"
    assert "SANDKASTEN_PROBE=visible" in out["/proc/self/environ"]  # the probe reads what it should
    assert out["/proc/1/cmdline"].split("\0")[:2] == ["python3", "/program/code.py"], out


# ------------------------------------------------------------------------------------ INFO-03 host identity


@pytest.mark.catalogue("INFO-03")
def test_the_host_is_not_identified(gvisor_daemon: Any) -> None:
    """Hostname `box`, an empty /etc/passwd, gVisor's /proc/version and /proc/cmdline rather than
    the host's, an uptime of the sandbox's own, and a /proc/self/mountinfo without any host path
    (under nsjail it shows the daemon's directories). /sys exists - gVisor's synthetic one,
    with an empty /sys/fs/cgroup. Documented, as for nsjail: /proc/meminfo's MemTotal is the
    host's."""
    code = """
import json, os, socket
read = lambda path: open(path).read()
print(json.dumps({
    "hostname": [socket.gethostname(), read("/proc/sys/kernel/hostname").strip()],
    "passwd": read("/etc/passwd"), "etc": sorted(os.listdir("/etc")),
    "version": read("/proc/version"), "cmdline": read("/proc/cmdline"),
    "uptime": float(read("/proc/uptime").split()[0]), "mountinfo": read("/proc/self/mountinfo"),
    "memtotal": read("/proc/meminfo").splitlines()[0].split()[1],
    "cgroup": os.listdir("/sys/fs/cgroup"),
}))
"""
    out = clean_json_stdout(run(gvisor_daemon, "python", code, run_limits={"time": 5}))
    assert out["hostname"] == ["box", "box"]
    assert (out["passwd"], out["etc"]) == ("", ["passwd"]), out
    assert out["version"].startswith(GVISOR_KERNEL), out["version"]
    assert out["version"] != Path("/proc/version").read_text()
    assert out["cmdline"] != Path("/proc/cmdline").read_text(), out["cmdline"]
    assert out["uptime"] < float(Path("/proc/uptime").read_text().split()[0]), out["uptime"]
    assert out["uptime"] < 60, "the uptime is not the sandbox's own"
    assert "/box" in out["mountinfo"]  # the probe read the mount table
    host_paths = [str(gvisor_daemon.programs_dir.parent), str(ROOT), "/nix/store"]
    assert not [p for p in host_paths if p in out["mountinfo"]], out["mountinfo"]
    assert out["cgroup"] == []
    memtotal = Path("/proc/meminfo").read_text().splitlines()[0].split()[1]
    assert out["memtotal"] == memtotal, "documented residual: the host's memory size is visible"


# ------------------------------------------------------------------------------------ INFO-04 processes


@pytest.mark.catalogue("INFO-04")
def test_only_the_jobs_own_processes_are_visible(gvisor_daemon: Any) -> None:
    """While another gVisor job runs (its sandbox seen on the host), a job that forked one
    child sees in /proc exactly itself (pid 1) and that child; bash sees only itself."""
    code = """
import json, os, time
child = os.fork()
if child == 0:
    time.sleep(30)
    os._exit(0)
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
print(json.dumps({"pids": pids, "me": os.getpid(), "child": child}))
"""
    with ThreadPoolExecutor(max_workers=1) as pool:
        other = pool.submit(run, gvisor_daemon, "python", "import time\ntime.sleep(2)\nprint('done')\n",
                            run_limits={"time": 8})
        assert sandbox_seen_while_running(gvisor_daemon, other), "the other job did not run"
        out = clean_json_stdout(run(gvisor_daemon, "python", code, run_limits={"time": 5}))
        assert not other.done(), "the other job ended before the probe ran"
        assert other.result()["stdout"] == "done\n"
    assert out["me"] == 1 and out["pids"] == sorted([1, out["child"]]), out
    bash = run(gvisor_daemon, "bash", "echo $$ /proc/[0-9]*\n", run_limits={"time": 5})
    assert (bash["status"], bash["stdout"]) == (0, "1 /proc/1\n"), bash


# ------------------------------------------------------------------------------------ NET-01/02


NETWORK_PY = r"""
import json, os, socket
out = {"interfaces": socket.if_nameindex()}
def attempt(name, function):
    try:
        function()
        out[name] = "ok"
    except socket.gaierror:
        out[name] = "gaierror"
    except OSError as e:
        out[name] = e.errno

def tcp(host, port, family=socket.AF_INET):
    with socket.socket(family, socket.SOCK_STREAM) as s:
        s.settimeout(5)
        s.connect((host, port))

def udp():
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as s:
        s.sendto(b"x", ("1.1.1.1", 53))

attempt("daemon", lambda: tcp("127.0.0.1", int(os.environ["DAEMON_PORT"])))
attempt("metadata", lambda: tcp("169.254.169.254", 80))
attempt("outside", lambda: tcp("1.1.1.1", 443))
attempt("outside6", lambda: tcp("2606:4700:4700::1111", 443, socket.AF_INET6))
attempt("udp", udp)
attempt("dns", lambda: socket.getaddrinfo("example.com", 80))
attempt("raw_icmp", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close())
attempt("packet", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close())
attempt("netlink", lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW).close())
with open("/proc/net/dev") as f:
    out["proc_net_dev"] = [line.split(":")[0].strip() for line in f.read().splitlines()[2:]]
print(json.dumps(out))
"""


@pytest.mark.catalogue("NET-01", "NET-02")
def test_python_has_only_its_own_loopback(gvisor_daemon: Any) -> None:
    """Only `lo` (gVisor's own stack, `--network=none`): the daemon's port on 127.0.0.1 is
    refused (it is the sandbox's loopback, where nobody listens), the metadata address and the
    outside have no route (EHOSTUNREACH under gVisor, ENETUNREACH under nsjail), names do not
    resolve, raw and packet sockets need a capability (EPERM). Netlink sockets can be opened -
    gVisor's own netlink, which knows only this `lo`."""
    port = urlsplit(gvisor_daemon.url).port
    out = clean_json_stdout(run(gvisor_daemon, "python", NETWORK_PY, run_limits={"time": 8},
                                env_vars=[{"name": "DAEMON_PORT", "value": str(port)}]))
    assert out == {
        "interfaces": [[1, "lo"]], "daemon": errno.ECONNREFUSED,
        "metadata": errno.EHOSTUNREACH, "outside": errno.EHOSTUNREACH, "outside6": errno.EHOSTUNREACH,
        "udp": errno.EHOSTUNREACH, "dns": "gaierror",
        "raw_icmp": errno.EPERM, "packet": errno.EPERM, "netlink": "ok", "proc_net_dev": ["lo"],
    }, out


@pytest.mark.catalogue("NET-01")
def test_bash_cannot_reach_the_daemon_or_the_metadata_address(gvisor_daemon: Any) -> None:
    """Bash's /dev/tcp reaches neither the daemon's port nor 169.254.169.254, while /dev/udp on
    the job's own loopback opens (the probe's redirections work)."""
    port = urlsplit(gvisor_daemon.url).port
    code = f"""
for target in /dev/tcp/127.0.0.1/{port} /dev/tcp/169.254.169.254/80 /dev/udp/127.0.0.1/9; do
    if (exec 3<> "$target") 2> /dev/null; then echo "$target open"; else echo "$target blocked"; fi
done
"""
    result = run(gvisor_daemon, "bash", code, run_limits={"time": 8})
    assert (result["status"], result["stdout"]) == (0, (
        f"/dev/tcp/127.0.0.1/{port} blocked\n/dev/tcp/169.254.169.254/80 blocked\n/dev/udp/127.0.0.1/9 open\n")), result


# ------------------------------------------------------------------------------------ PRIV-01


@pytest.mark.catalogue("PRIV-01")
def test_runs_as_nobody_without_capabilities(gvisor_daemon: Any) -> None:
    """uid and gid 65534 (no supplementary groups), no capabilities in any set, and
    no_new_privs set (read with prctl: gVisor's /proc/self/status has no NoNewPrivs line)."""
    code = """
import ctypes, json, os
fields = {}
for line in open("/proc/self/status"):
    key, _, value = line.partition(":")
    fields[key] = value.strip()
libc = ctypes.CDLL(None, use_errno=True)
print(json.dumps({
    "ids": [os.getuid(), os.geteuid(), os.getgid(), os.getegid(), os.getgroups()],
    "status_ids": [fields["Uid"].split(), fields["Gid"].split()],
    "caps": {k: int(v, 16) for k, v in fields.items() if k.startswith("Cap")},
    "no_new_privs": libc.prctl(39, 0, 0, 0, 0),  # PR_GET_NO_NEW_PRIVS
}))
"""
    out = clean_json_stdout(run(gvisor_daemon, "python", code, run_limits={"time": 5}))
    assert out["ids"] == [NOBODY, NOBODY, NOBODY, NOBODY, []], out
    assert out["status_ids"] == [[str(NOBODY)] * 4] * 2, out
    assert {"CapInh", "CapPrm", "CapEff", "CapBnd"} <= set(out["caps"]), out
    assert set(out["caps"].values()) == {0}, out
    assert out["no_new_privs"] == 1, out
