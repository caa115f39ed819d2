"""install-vm.sh: the plan printed by --dry-run, --help, and what the script refuses.

Nothing here erases anything: every run is a dry run, on a temporary file or on device names
that the script only prints. The refusal of a mounted disk uses the disk this machine's root file
system is on, which a dry run must refuse too.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent.parent
SCRIPT = ROOT / "install-vm.sh"
MNT = "/mnt"
TARGET = "/mnt/root/sandkasten"


def install_vm(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    full_env = {k: v for k, v in os.environ.items() if k != "FLAKE"}
    full_env.update(env or {})
    return subprocess.run(
        ["bash", str(SCRIPT), *args],
        capture_output=True,
        text=True,
        timeout=30,
        env=full_env,
        check=False,
    )


def plan(*args: str, env: dict[str, str] | None = None) -> list[list[str]]:
    """The steps of a successful dry run, each as its argv (the stdin of sfdisk dropped)."""
    result = install_vm("--dry-run", *args, env=env)
    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    steps = []
    for line in result.stdout.splitlines():
        if line.startswith("#"):
            continue
        assert line.startswith("+ "), line
        command = line[2:]
        if command.startswith("printf %s $'label: dos\\n,,L,*\\n' | "):
            command = command.split(" | ", 1)[1]
        steps.append(shlex.split(command))
    return steps


def programs(steps: list[list[str]]) -> list[str]:
    return [step[0] for step in steps]


@pytest.fixture
def fake_disk(tmp_path: Path) -> Path:
    disk = tmp_path / "disk.img"
    with disk.open("wb") as f:
        f.truncate(64 * 1024 * 1024)
    return disk


def test_plan_on_a_file(fake_disk: Path) -> None:
    steps = plan(str(fake_disk), "--flake", "github:example/sandkasten-py")
    disk, root = str(fake_disk), f"{fake_disk}1"
    assert steps == [
        ["sfdisk", "--wipe", "always", "--wipe-partitions", "always", "--", disk],
        ["udevadm", "settle"],
        ["mkfs.ext4", "-F", "-L", "nixos", "--", root],
        ["mount", "--", root, MNT],
        ["mkdir", "-p", "--", f"{MNT}/root"],
        [
            "nix",
            "--extra-experimental-features",
            "nix-command flakes",
            "flake",
            "new",
            "--template",
            "github:example/sandkasten-py#vm",
            "--",
            TARGET,
        ],
        steps[6],  # grep: the sandkasten input line exists (checked below)
        steps[7],
        ["nixos-generate-config", "--root", MNT, "--show-hardware-config", ">", f"{TARGET}/hardware-configuration.nix"],
        steps[9],
        steps[10],
        ["nixos-install", "--root", MNT, "--flake", f"{TARGET}#sandkasten", "--no-channel-copy", "--no-root-password"],
        ["umount", "-R", "--", MNT],
        ["reboot"],
    ]
    assert steps[6][:3] == ["grep", "-Eq", "--"] and steps[6][-1] == f"{TARGET}/flake.nix"
    assert steps[7][:3] == ["sed", "-E", "-i"] and steps[7][-1] == f"{TARGET}/flake.nix"
    assert '"github:example/sandkasten-py"' in steps[7][4]
    assert steps[9][-1] == steps[10][-1] == f"{TARGET}/configuration.nix"
    assert f'"{disk}"' in steps[10][4]  # GRUB goes to the disk
    # Nothing was executed: the file is still all zeros (no partition table, no file system).
    assert fake_disk.stat().st_size == 64 * 1024 * 1024
    with fake_disk.open("rb") as f:
        assert f.read(1024 * 1024) == bytes(1024 * 1024)
    assert not Path(root).exists()


def test_sandkastens_flake_url_form_names_the_template(fake_disk: Path) -> None:
    """FLAKE=URL#vm (Sandkasten's form): the input is URL, the template URL#vm."""
    steps = plan(str(fake_disk), env={"FLAKE": "github:example/sandkasten-py/v1#vm"})
    assert "github:example/sandkasten-py/v1#vm" in steps[5]
    assert '"github:example/sandkasten-py/v1"' in steps[7][4]


def test_sed_expressions_rewrite_the_template_lines(fake_disk: Path, tmp_path: Path) -> None:
    """The printed sed commands do what they should on template-like lines."""
    steps = plan(str(fake_disk), "--flake", "github:example/x", "--hostname", "box")
    flake = tmp_path / "flake.nix"
    flake.write_text('{\n  inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";\n'
                     '  inputs.sandkasten.url = "github:old/old";\n}\n')
    config = tmp_path / "configuration.nix"
    config.write_text('{\n  boot.loader.grub.device = "/dev/sda";\n  networking.hostName = "sandkasten";\n}\n')
    greps = [s for s in steps if s[0] == "grep"]
    seds = [s for s in steps if s[0] == "sed"]
    assert len(greps) == len(seds) == 3
    for grep, sed in zip(greps, seds):
        file = flake if grep[-1].endswith("flake.nix") else config
        assert subprocess.run([*grep[:-1], str(file)], check=False).returncode == 0
        subprocess.run([*sed[:-1], str(file)], check=True)
    assert 'inputs.sandkasten.url = "github:example/x";' in flake.read_text()
    assert 'inputs.nixpkgs.url = "github:NixOS/nixpkgs/nixos-25.11";' in flake.read_text()
    assert f'boot.loader.grub.device = "{fake_disk}";' in config.read_text()
    assert 'networking.hostName = "box";' in config.read_text()


def test_local_flake_copies_its_template(fake_disk: Path) -> None:
    steps = plan(str(fake_disk), "--flake", f"path:{ROOT}")
    assert ["cp", "-rT", "--", f"{ROOT}/nixos-module/vm", TARGET] in steps
    assert "nix" not in programs(steps)
    assert any(f'"path:{ROOT}"' in s[4] for s in steps if s[0] == "sed")
    # Without --flake and FLAKE: this checkout.
    assert plan(str(fake_disk)) == steps


@pytest.mark.parametrize(
    ("disk", "root"),
    [("/dev/loop7", "/dev/loop7p1"), ("/dev/nvme0n1", "/dev/nvme0n1p1"), ("/dev/sdz", "/dev/sdz1")],
)
def test_root_partition_defaults(disk: str, root: str) -> None:
    steps = plan(disk, "--flake", "github:a/b")
    assert steps[0][-1] == disk
    assert steps[2] == ["mkfs.ext4", "-F", "-L", "nixos", "--", root]
    assert steps[3] == ["mount", "--", root, MNT]


def test_options_and_positional_root() -> None:
    steps = plan("--disk", "/dev/vdz", "--root", "/dev/vdz9", "--flake=github:a/b", "--no-reboot")
    assert steps[0][-1] == "/dev/vdz"
    assert steps[2][-1] == "/dev/vdz9"
    assert programs(steps)[-1] == "umount" and "reboot" not in programs(steps)
    assert plan("/dev/vdz", "/dev/vdz9", "--flake", "github:a/b", "--no-reboot") == steps


def test_hostname_step_only_when_asked() -> None:
    without = plan("/dev/vdz", "--flake", "github:a/b")
    with_name = plan("/dev/vdz", "--flake", "github:a/b", "--hostname", "box")
    assert len(with_name) == len(without) + 2
    assert '"box"' in with_name[12][4]
    result = install_vm("--dry-run", "/dev/vdz", "--hostname", "bad name!")
    assert result.returncode != 0 and "invalid host name" in result.stderr


def test_help() -> None:
    result = install_vm("--help")
    assert result.returncode == 0
    for option in ["--disk", "--root", "--flake", "--hostname", "--no-reboot", "--dry-run", "--yes", "/dev/sda"]:
        assert option in result.stdout
    assert install_vm("-h").stdout == result.stdout


@pytest.mark.parametrize("args", [["--bogus"], ["--dry-run", "-x", "/dev/vdz"], ["--dry-run", "--disk"]])
def test_bad_arguments(args: list[str]) -> None:
    result = install_vm(*args)
    assert result.returncode != 0
    assert result.stdout == ""
    assert re.search(r"unknown option|needs a value", result.stderr)


def test_too_many_arguments() -> None:
    result = install_vm("--dry-run", "/dev/a", "/dev/a1", "extra")
    assert result.returncode != 0 and "too many arguments" in result.stderr


def root_disk() -> str | None:
    """The device of this machine's root file system, if it is a block device."""
    for line in Path("/proc/mounts").read_text().splitlines():
        source, mountpoint = line.split()[:2]
        if mountpoint == "/" and source.startswith("/dev/") and Path(source).is_block_device():
            return source
    return None


def test_refuses_a_mounted_disk_even_in_dry_run() -> None:
    source = root_disk()
    if source is None:
        pytest.skip("the root file system is not on a block device here")
    # The whole disk holding the root partition (/dev/vda2 -> /dev/vda), and the device itself.
    name = Path(os.path.realpath(source)).name
    parent = Path(f"/sys/class/block/{name}/..").resolve().name
    candidates = {source}
    if Path(f"/sys/class/block/{name}/partition").exists():
        candidates.add(f"/dev/{parent}")
    for disk in sorted(candidates):
        result = install_vm("--dry-run", disk, "--flake", "github:a/b")
        assert result.returncode != 0, result.stdout
        assert "refusing to erase" in result.stderr and "in use" in result.stderr
        assert " on /\n" in result.stderr
        assert "+ " not in result.stdout  # no step printed


def test_refuses_without_root_unless_dry_run(fake_disk: Path) -> None:
    if os.geteuid() != 0:
        result = install_vm(str(fake_disk), "--yes")
    else:
        result = subprocess.run(
            ["setpriv", "--reuid=65534", "--regid=65534", "--clear-groups", "bash", str(SCRIPT), str(fake_disk), "--yes"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    assert result.returncode != 0
    assert "must run as root" in result.stderr
    assert result.stdout == ""


def test_real_run_refuses_a_regular_file(fake_disk: Path) -> None:
    """Without --dry-run the disk must be a block device (checked before anything runs)."""
    if os.geteuid() != 0:
        pytest.skip("needs root to get past the root check")
    result = install_vm(str(fake_disk), "--yes")
    assert result.returncode != 0
    assert "not a block device" in result.stderr
    assert result.stdout == ""


def test_sed_expressions_fit_the_repositorys_template(tmp_path: Path) -> None:
    """The greps and seds of the plan match nixos-module/vm's flake.nix and configuration.nix."""
    template = ROOT / "nixos-module" / "vm"
    if not (template / "flake.nix").is_file():
        pytest.skip("nixos-module/vm is not there")
    for name in ["flake.nix", "configuration.nix"]:
        (tmp_path / name).write_text((template / name).read_text())
    steps = plan("/dev/vdz", "--flake", "github:example/x", "--hostname", "box")
    for step in steps:
        if step[0] in ("grep", "sed"):
            file = tmp_path / Path(step[-1]).name
            assert subprocess.run([*step[:-1], str(file)], check=False).returncode == 0, step
    flake = (tmp_path / "flake.nix").read_text()
    config = (tmp_path / "configuration.nix").read_text()
    assert re.search(r'^\s*(inputs\.)?sandkasten\.url = "github:example/x";$', flake, re.MULTILINE)
    assert 'grub.device = "/dev/vdz";' in config
    assert 'hostName = "box";' in config
