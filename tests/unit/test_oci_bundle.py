"""gVisor's view of a job (sandbox/oci.py): the OCI configuration made from a job spec, the bundle
on disk, the runsc command line and how runsc's errors are read from its log. Pure functions
and a temporary directory: no root, no runsc. Jobs really run under gVisor in
tests/integration/test_gvisor.py and tests/security/test_gvisor_sandbox.py."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import pytest

from sandkasten_py.sandbox import JobLimits, JobSpec, Mount, Symlink
from sandkasten_py.sandbox.oci import make_bundle, oci_config, runsc_argv, runsc_errors, runsc_kill_argv

LIMITS = JobLimits(cpus=1, time=5, memory=256, tmpfs=64, filesize=16, file_descriptors=128,
                   processes=32, stdout_max_size=1000, stderr_max_size=1000, network=False)
SPEC = JobSpec(
    argv=("/sandkasten/run.sh", "main.py", "a b"),
    box_dir="/jobs/1/box",
    program_dir="/programs/p",
    program_writable=False,
    tmp_dir="/jobs/1/tmp",
    mounts=(Mount("/nix/store/abc-python", "/nix/store/abc-python"), Mount("/pkgs/python/usr", "/usr")),
    symlinks=(Symlink("/bin", "/usr/bin"), Symlink("/usr/lib64/ld.so", "/usr/lib/ld.so")),
    env=(("NAME", "value"), ("SANDKASTEN_MEMORY_MB", "999999")),
    compile_args=("-O2", "-g"),
    limits=LIMITS,
)


def mounts_by_target(config: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {m["destination"]: m for m in config["mounts"]}


def test_the_job_sees_its_mounts_read_only_and_only_tmp_writable() -> None:
    mounts = mounts_by_target(oci_config(SPEC, "/bundle/root"))
    assert set(mounts) == {"/proc", "/nix/store/abc-python", "/usr", "/program", "/box", "/tmp"}
    assert mounts["/usr"]["source"] == "/pkgs/python/usr"
    for target in ("/nix/store/abc-python", "/usr", "/program", "/box"):
        assert "ro" in mounts[target]["options"] and "rw" not in mounts[target]["options"], target
    assert "rw" in mounts["/tmp"]["options"]
    assert all({"nosuid", "nodev"} <= set(m["options"]) for t, m in mounts.items() if t != "/proc")


def test_a_compile_step_writes_program_and_a_job_without_tmp_has_none() -> None:
    compiling = JobSpec(argv=("/c",), box_dir="/b", program_dir="/p", program_writable=True, limits=LIMITS)
    mounts = mounts_by_target(oci_config(compiling, "/root"))
    assert "rw" in mounts["/program"]["options"]
    assert "/tmp" not in mounts


def test_the_process_is_nobody_without_capabilities_with_the_limits_as_rlimits() -> None:
    process = oci_config(SPEC, "/bundle/root")["process"]
    assert process["user"] == {"uid": 65534, "gid": 65534, "additionalGids": []}
    assert process["args"] == ["/sandkasten/run.sh", "main.py", "a b"]
    assert process["cwd"] == "/box" and process["terminal"] is False and process["noNewPrivileges"] is True
    assert all(values == [] for values in process["capabilities"].values())
    rlimits = {r["type"]: (r["soft"], r["hard"]) for r in process["rlimits"]}
    assert rlimits == {"RLIMIT_FSIZE": (16 * 1024 * 1024,) * 2, "RLIMIT_NOFILE": (128, 128),
                       "RLIMIT_NPROC": (32, 32), "RLIMIT_CORE": (0, 0)}


def test_the_environment_is_the_requests_and_the_daemons_values_win() -> None:
    env = oci_config(SPEC, "/r")["process"]["env"]
    assert env == ["SANDKASTEN_MEMORY_MB=256", "SANDKASTEN_CPUS=1", "SANDKASTEN_COMPILE_ARGS=-O2\n-g",
                   "NAME=value"]


def test_the_root_is_read_only_with_its_own_namespaces_and_hostname() -> None:
    config = oci_config(SPEC, "/bundle/root")
    assert config["root"] == {"path": "/bundle/root", "readonly": True}
    assert config["hostname"] == "box"
    assert {n["type"] for n in config["linux"]["namespaces"]} == {"pid", "ipc", "uts", "mount", "network"}
    assert "cgroupsPath" not in config["linux"]  # runsc stays in the daemon's cgroup


def test_runsc_keeps_its_state_and_log_in_the_bundle_and_has_no_network() -> None:
    argv = runsc_argv("/usr/bin/runsc", "/b/1", "1")
    assert argv[0] == "/usr/bin/runsc"
    assert argv[argv.index("--root") + 1] == "/b/1/state" and argv[argv.index("--log") + 1] == "/b/1/runsc.log"
    assert {"--network=none", "--ignore-cgroups", "--overlay2=none"} <= set(argv)
    assert argv[-4:] == ["run", "--bundle", "/b/1", "1"]


def test_signals_go_to_every_process_of_the_container() -> None:
    assert runsc_kill_argv("/usr/bin/runsc", "/b/1", "1", 2) == [
        "/usr/bin/runsc", "--root", "/b/1/state", "kill", "--all", "1", "2"]


def test_the_bundle_holds_the_configuration_and_a_root_of_symlinks(tmp_path: Path) -> None:
    bundle = tmp_path / "job"
    make_bundle(SPEC, str(bundle))
    config = json.loads((bundle / "config.json").read_text())
    assert config["root"]["path"] == str(bundle / "root")
    assert os.readlink(bundle / "root" / "bin") == "/usr/bin"
    assert os.readlink(bundle / "root" / "usr" / "lib64" / "ld.so") == "/usr/lib/ld.so"
    assert os.readlink(bundle / "root" / "etc" / "passwd") == "/dev/null"  # an empty passwd, as under nsjail
    assert bundle.stat().st_mode & 0o777 == 0o700


def test_a_symlink_that_climbs_out_of_the_root_is_refused(tmp_path: Path) -> None:
    spec = JobSpec(argv=("/x",), box_dir="/b", program_dir="/p", program_writable=False, limits=LIMITS,
                   symlinks=(Symlink("/usr/../../escape", "/x"),))
    with pytest.raises(ValueError, match="goes up a directory"):
        make_bundle(spec, str(tmp_path / "job"))
    assert not (tmp_path / "escape").exists()


def test_runsc_errors_are_read_from_its_log(tmp_path: Path) -> None:
    """runsc's processes write JSON objects one after the other, runsc itself plain lines."""
    (tmp_path / "runsc.log").write_text(
        'I1201 21:05:31.791413 30037 main.go:255] Starting\n'
        '{"msg":"error setting up FS: mounting /box: stat failed","level":"error","time":"t"}'
        '{"msg":"just so","level":"info","time":"t"}{"msg":"running container: \\"x\\"","level":"error"}\n'
        '{"msg": broken')
    assert runsc_errors(str(tmp_path)) == ["error setting up FS: mounting /box: stat failed",
                                           'running container: "x"']
    assert runsc_errors(str(tmp_path / "missing")) == []
