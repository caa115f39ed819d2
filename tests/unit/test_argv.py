"""Unit tests of the nsjail command line (sandkasten_py.sandbox.argv.nsjail_argv).

The command line *is* the sandbox: a wrong unit gives a job a thousand times the memory, a
missing flag gives it the host's network or a writable program directory. Every flag is
checked with its exact value (§3.2 of the reference, with this port's deliberate changes).
"""

from __future__ import annotations

from typing import Any

import pytest

from sandkasten_py.sandbox import JobLimits, JobSpec, Mount, Symlink
from sandkasten_py.sandbox.argv import nsjail_argv

NSJAIL = "/opt/nsjail/bin/nsjail"
LIMITS = JobLimits(cpus=2, time=5, memory=256, tmpfs=64, filesize=16, file_descriptors=100,
                   processes=32, stdout_max_size=1000, stderr_max_size=2000, network=False)


def spec(**changes: Any) -> JobSpec:
    """A run-step job spec with some fields replaced (`limits` may be a dict of changes)."""
    limit_changes = changes.pop("limits", {})
    fields: dict[str, Any] = {
        "argv": ("/nix/store/x-run", "code.py", "arg one", "--"),
        "box_dir": "/jobs/j1/box",
        "program_dir": "/programs/p1/files",
        "program_writable": False,
        "mounts": (Mount("/nix/store/x-run", "/nix/store/x-run"),
                   Mount("/usr/lib/python3", "/usr/lib/python3.11")),
        "symlinks": (Symlink(path="/bin/sh", target="/nix/store/bash/bin/sh"),),
        "env": (("A", "1"), ("B", "x=y z"), ("C", "")),
        "limits": JobLimits(**{**{n: getattr(LIMITS, n) for n in LIMITS.__struct_fields__},
                               **limit_changes}),
    }
    fields.update(changes)
    return JobSpec(**fields)


def options(argv: list[str]) -> list[str]:
    """The nsjail options: everything before the first `--`."""
    return argv[: argv.index("--")]


def values(argv: list[str], flag: str) -> list[str]:
    """Every value given to `flag` (which takes one argument), in order."""
    opts = options(argv)
    return [opts[i + 1] for i, word in enumerate(opts) if word == flag]


def value(argv: list[str], flag: str) -> str:
    """The single value of `flag`."""
    found = values(argv, flag)
    assert len(found) == 1, f"{flag} given {len(found)} times: {found}"
    return found[0]


@pytest.fixture(params=[True, False], ids=["cgroup", "rlimit"])
def use_cgroup(request: pytest.FixtureRequest) -> bool:
    return bool(request.param)


def test_starts_with_the_binary(use_cgroup: bool) -> None:
    """argv[0] is the configured nsjail binary."""
    assert nsjail_argv(NSJAIL, spec(), use_cgroup=use_cgroup)[0] == NSJAIL


def test_runs_as_nobody_mapped_to_nobody_outside(use_cgroup: bool) -> None:
    """`65534:65534:1` maps inside nobody to the real outside nobody, not to the daemon's root."""
    argv = nsjail_argv(NSJAIL, spec(), use_cgroup=use_cgroup)
    assert value(argv, "--user") == "65534:65534:1"
    assert value(argv, "--group") == "65534:65534:1"
    assert "-u" not in options(argv) and "-g" not in options(argv)


def test_fixed_identity_of_the_jail(use_cgroup: bool) -> None:
    """Hostname `box`, working directory `/box`, run once, no core dumps."""
    argv = nsjail_argv(NSJAIL, spec(), use_cgroup=use_cgroup)
    assert value(argv, "--hostname") == "box"
    assert value(argv, "--cwd") == "/box"
    assert value(argv, "--mode") == "o"
    assert value(argv, "--rlimit_core") == "0"


@pytest.mark.parametrize("time", [1, 5, 30])
def test_time_limit_is_a_backstop_above_the_limit(time: int, use_cgroup: bool) -> None:
    """The daemon enforces `time` itself; nsjail's timer fires only a little later, never earlier,
    and is never 0 (which nsjail reads as no limit)."""
    argv = nsjail_argv(NSJAIL, spec(limits={"time": time}), use_cgroup=use_cgroup)
    backstop = int(value(argv, "--time_limit"))
    assert time < backstop <= time + 5


def test_cpu_file_and_descriptor_limits(use_cgroup: bool) -> None:
    """cpus → --max_cpus, filesize (MB) → --rlimit_fsize, file_descriptors → --rlimit_nofile."""
    argv = nsjail_argv(NSJAIL, spec(), use_cgroup=use_cgroup)
    assert value(argv, "--max_cpus") == "2"
    assert value(argv, "--rlimit_fsize") == "16"
    assert value(argv, "--rlimit_nofile") == "100"


def test_rlimit_mode_limits_memory_and_processes_with_rlimits() -> None:
    """Without cgroups, rlimits are all there is: memory in MB via RLIMIT_AS, processes via NPROC."""
    argv = nsjail_argv(NSJAIL, spec(), use_cgroup=False)
    assert value(argv, "--rlimit_as") == "256"
    assert value(argv, "--rlimit_nproc") == "32"


def test_cgroup_mode_lifts_the_matching_rlimits() -> None:
    """With cgroups the daemon's cgroup limits memory; nsjail's 4 GB RLIMIT_AS default is lifted."""
    argv = nsjail_argv(NSJAIL, spec(), use_cgroup=True)
    assert value(argv, "--rlimit_as") == "max"
    assert value(argv, "--rlimit_nproc") == "max"


def test_memory_appears_only_as_rlimit_as(use_cgroup: bool) -> None:
    """The daemon owns the cgroup; nsjail's own cgroup flags (which delete the counters) are unused."""
    argv = nsjail_argv(NSJAIL, spec(limits={"memory": 777}), use_cgroup=use_cgroup)
    opts = options(argv)
    assert not [w for w in opts if w.startswith("--cgroup") or w == "--detect_cgroupv2"]
    assert ("777" in opts) is (not use_cgroup)
    assert str(777 * 1_000_000) not in " ".join(opts)


def test_tmp_is_the_callers_capped_tmpfs_bound_read_write(use_cgroup: bool) -> None:
    """`/tmp` is the host tmpfs the caller mounted (capped in bytes and inodes), bound read-write;
    nsjail mounts no tmpfs of its own, which the daemon could neither cap in inodes nor inspect."""
    argv = nsjail_argv(NSJAIL, spec(tmp_dir="/jobs/j1/tmp"), use_cgroup=use_cgroup)
    assert values(argv, "--bindmount").count("/jobs/j1/tmp:/tmp") == 1
    assert "--mount" not in options(argv) and "-m" not in options(argv)


def test_no_tmp_without_a_tmp_dir(use_cgroup: bool) -> None:
    """No tmp_dir (the job's tmpfs limit is 0) means no `/tmp` at all (not an unlimited tmpfs)."""
    argv = nsjail_argv(NSJAIL, spec(tmp_dir=None), use_cgroup=use_cgroup)
    assert not [w for w in options(argv) if "/tmp" in w]
    assert "--mount" not in options(argv) and "-m" not in options(argv)


@pytest.mark.parametrize(("writable", "flag"), [(True, "--bindmount"), (False, "--bindmount_ro")])
def test_program_dir_writable_only_for_compile_steps(writable: bool, flag: str) -> None:
    """`/program` is read-write while compiling, read-only when running."""
    argv = nsjail_argv(NSJAIL, spec(program_writable=writable), use_cgroup=True)
    assert values(argv, flag).count("/programs/p1/files:/program") == 1
    other = "--bindmount_ro" if writable else "--bindmount"
    assert "/programs/p1/files:/program" not in values(argv, other)


@pytest.mark.parametrize("writable", [True, False])
def test_box_is_always_read_only(writable: bool) -> None:
    """`/box` (the request's files) is read-only in every step."""
    argv = nsjail_argv(NSJAIL, spec(program_writable=writable), use_cgroup=True)
    assert "/jobs/j1/box:/box" in values(argv, "--bindmount_ro")
    assert "/jobs/j1/box:/box" not in values(argv, "--bindmount")
    assert not [w for w in options(argv) if w.endswith(":/box") and w != "/jobs/j1/box:/box"]


# The limits of spec() and no compile args, for the scripts.
JOB_ENV = ["SANDKASTEN_MEMORY_MB=256", "SANDKASTEN_CPUS=2", "SANDKASTEN_COMPILE_ARGS="]


def test_env_vars_in_order_as_name_equals_value(use_cgroup: bool) -> None:
    """Each variable is one `--env NAME=VALUE` argument, in request order, value kept verbatim,
    after the job variables the daemon gives the scripts."""
    argv = nsjail_argv(NSJAIL, spec(), use_cgroup=use_cgroup)
    assert values(argv, "--env") == [*JOB_ENV, "A=1", "B=x=y z", "C="]


def test_no_env_vars_means_only_the_job_variables(use_cgroup: bool) -> None:
    """nsjail clears the environment; with no request variables only the job variables pass."""
    argv = nsjail_argv(NSJAIL, spec(env=()), use_cgroup=use_cgroup)
    assert values(argv, "--env") == JOB_ENV
    assert "-E" not in options(argv) and "--keep_env" not in options(argv)


def test_a_request_cannot_set_the_job_variables() -> None:
    """A request variable named like a job variable is dropped: the daemon's value wins."""
    argv = nsjail_argv(NSJAIL, spec(env=(("SANDKASTEN_MEMORY_MB", "99999"), ("X", "1"))), use_cgroup=True)
    assert values(argv, "--env") == [*JOB_ENV, "X=1"]


def test_compile_args_reach_the_script_one_per_line_and_win_over_a_request() -> None:
    """A build's accepted compile args are one variable, one argument per line; a request
    variable of that name cannot replace or add to them."""
    argv = nsjail_argv(NSJAIL, spec(env=(("SANDKASTEN_COMPILE_ARGS", "-o\n/x"),),
                                    compile_args=("-O0", "-DMSG=a b")), use_cgroup=True)
    assert values(argv, "--env") == [*JOB_ENV[:2], "SANDKASTEN_COMPILE_ARGS=-O0\n-DMSG=a b"]


def test_env_value_with_newline_stays_one_argument() -> None:
    """A value with a newline is passed as one argv word, not split."""
    argv = nsjail_argv(NSJAIL, spec(env=(("M", "a\nb"),)), use_cgroup=True)
    assert values(argv, "--env") == [*JOB_ENV, "M=a\nb"]


def test_mounts_read_only_and_same_path_without_target(use_cgroup: bool) -> None:
    """Environment mounts are read-only; src == dst is emitted without `:dst`."""
    argv = nsjail_argv(NSJAIL, spec(), use_cgroup=use_cgroup)
    ro = values(argv, "--bindmount_ro")
    assert "/nix/store/x-run" in ro
    assert "/nix/store/x-run:/nix/store/x-run" not in ro
    assert "/usr/lib/python3:/usr/lib/python3.11" in ro
    assert not [v for v in values(argv, "--bindmount") if "/nix/store" in v or "/usr/lib" in v]


def test_devices_and_standard_links(use_cgroup: bool) -> None:
    """The original's devices and /dev/fd, /dev/std*, /etc/passwd links are present."""
    argv = nsjail_argv(NSJAIL, spec(), use_cgroup=use_cgroup)
    ro = values(argv, "--bindmount_ro")
    assert {"/dev/null", "/dev/urandom"} <= set(ro)
    links = values(argv, "--symlink")
    for link in ["/proc/self/fd:/dev/fd", "/proc/self/fd/0:/dev/stdin", "/proc/self/fd/1:/dev/stdout",
                 "/proc/self/fd/2:/dev/stderr", "/dev/null:/etc/passwd"]:
        assert link in links


def test_manifest_symlinks_as_target_colon_path(use_cgroup: bool) -> None:
    """A symlink `path -> target` is `--symlink target:path` (nsjail's order)."""
    argv = nsjail_argv(NSJAIL, spec(), use_cgroup=use_cgroup)
    assert "/nix/store/bash/bin/sh:/bin/sh" in values(argv, "--symlink")
    assert "/bin/sh:/nix/store/bash/bin/sh" not in values(argv, "--symlink")


@pytest.mark.parametrize(
    "forbidden",
    ["--disable_clone_newnet", "-N", "--iface_no_lo", "--keep_env", "-e", "--chroot", "-c",
     "--disable_proc", "--keep_caps", "--disable_no_new_privs"],
)
@pytest.mark.parametrize("writable", [True, False])
def test_never_weakens_the_jail(forbidden: str, writable: bool, use_cgroup: bool) -> None:
    """No host network, no inherited environment, no chroot to the host's `/`, no capabilities."""
    argv = nsjail_argv(NSJAIL, spec(program_writable=writable), use_cgroup=use_cgroup)
    assert forbidden not in options(argv)
    assert "/:/" not in options(argv)


def test_command_comes_after_double_dash(use_cgroup: bool) -> None:
    """The job's argv follows the first `--` verbatim, even when it contains `--` itself."""
    job = spec()
    argv = nsjail_argv(NSJAIL, job, use_cgroup=use_cgroup)
    assert argv[argv.index("--") + 1:] == list(job.argv)


def test_every_option_flag_has_its_value() -> None:
    """Options come in flag/value pairs (plus --quiet), so no value is taken for a flag."""
    opts = options(nsjail_argv(NSJAIL, spec(), use_cgroup=True))[1:]
    opts = [w for w in opts if w != "--quiet"]
    assert len(opts) % 2 == 0
    assert all(flag.startswith("--") for flag in opts[::2])
