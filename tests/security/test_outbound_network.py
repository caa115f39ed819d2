"""Network access for jobs (`network: true`): outbound only, never the host or private networks.

There is no internet here, so "outbound" is shown with a peer host made by the test: a network
namespace behind a veth pair, with an address from TEST-NET-3 (203.0.113.0/24), running a TCP
server. A job with network reaches it through slirp4netns like any public address. Listeners on
the host itself (loopback, and every address of the host, such as the veth's host side) and
private ranges must stay out of reach. What is NOT tested here: real internet destinations and
DNS resolution through slirp4netns's forwarder (no resolver is reachable from this machine).
"""

from __future__ import annotations

import json
import socket
import subprocess
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.conftest import Daemon
from tests.security.jobs import expect_error

pytestmark = [pytest.mark.sandbox]

PEER_HOST_SIDE = "203.0.113.1"
PEER_ADDRESS = "203.0.113.2"
GREETING = b"hello from the internet\n"

PROBE = """
import json, socket, sys
results = {}
for host, port in json.loads(sys.argv[1]):
    try:
        with socket.create_connection((host, port), timeout=3) as s:
            results[f"{host}:{port}"] = s.recv(100).decode()
    except OSError as e:
        results[f"{host}:{port}"] = e.errno
print(json.dumps(results))
"""


def ip(*args: str) -> None:
    subprocess.run(["ip", *args], check=True, capture_output=True)


@dataclass
class Peer:
    """A host on a test network outside the machine's own namespace."""

    address: str
    port: int


@pytest.fixture(scope="module")
def peer() -> Iterator[Peer]:
    """A peer namespace behind a veth pair, with a TCP server that greets every client."""
    name = f"sk-peer-{uuid.uuid4().hex[:6]}"
    host_if, peer_if = f"skh{name[-6:]}", f"skp{name[-6:]}"
    ip("netns", "add", name)
    server: subprocess.Popen[bytes] | None = None
    try:
        ip("link", "add", host_if, "type", "veth", "peer", "name", peer_if)
        ip("link", "set", peer_if, "netns", name)
        ip("addr", "add", f"{PEER_HOST_SIDE}/24", "dev", host_if)
        ip("link", "set", host_if, "up")
        ip("-n", name, "addr", "add", f"{PEER_ADDRESS}/24", "dev", peer_if)
        ip("-n", name, "link", "set", peer_if, "up")
        ip("-n", name, "link", "set", "lo", "up")
        code = (
            "import socket, sys\n"
            "s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)\n"
            f"s.bind(({PEER_ADDRESS!r}, 0)); s.listen(64)\n"
            "print(s.getsockname()[1], flush=True)\n"
            "while True:\n"
            "    c, _ = s.accept(); c.sendall(%r); c.close()\n" % GREETING
        )
        server = subprocess.Popen(["ip", "netns", "exec", name, "python3", "-c", code],
                                  stdout=subprocess.PIPE)
        assert server.stdout is not None
        port = int(server.stdout.readline())
        yield Peer(PEER_ADDRESS, port)
    finally:
        if server is not None:
            server.kill()
            server.wait()
            if server.stdout is not None:
                server.stdout.close()
        subprocess.run(["ip", "link", "del", host_if], capture_output=True)
        subprocess.run(["ip", "netns", "del", name], capture_output=True)


@pytest.fixture(scope="module")
def networked(daemon_factory: Callable[..., Daemon]) -> Daemon:
    """A daemon whose compile and run limits allow network."""
    if subprocess.run(["sh", "-c", "command -v slirp4netns && command -v nft"],
                      capture_output=True).returncode != 0:
        pytest.fail("slirp4netns and nft must be installed (make setup installs them)")
    return daemon_factory(RUN_LIMITS__NETWORK="true", COMPILE_LIMITS__NETWORK="true", RUN_LIMITS__TIME="10")


@pytest.fixture
def host_listener() -> Iterator[int]:
    """A server on every address of the host (0.0.0.0) that would answer a job that got through."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("0.0.0.0", 0))
    server.listen(16)
    server.settimeout(0.2)
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                connection, _ = server.accept()
            except OSError:
                continue
            connection.sendall(b"host service\n")
            connection.close()

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield server.getsockname()[1]
    finally:
        stop.set()
        thread.join()
        server.close()


def probe(daemon: Daemon, targets: list[tuple[str, int]], network: bool = True) -> dict[str, Any]:
    response = daemon.post("/run", json={
        "build": {"environment": "python", "main_file": {"content": PROBE}},
        "run": {"args": [json.dumps(targets)], "run_limits": {"network": network, "time": 10}},
    })
    assert response.status_code == 200, response.text
    run = response.json()["run"]
    assert run["status"] == 0, run
    result: dict[str, Any] = json.loads(run["stdout"])
    return result


def host_addresses() -> list[str]:
    out = subprocess.run(["ip", "-j", "addr", "show"], capture_output=True, check=True).stdout
    return sorted({a["local"] for link in json.loads(out) for a in link.get("addr_info", [])
                   if a.get("family") == "inet"})


@pytest.mark.catalogue("NET-01")
def test_network_true_reaches_a_host_outside(networked: Daemon, peer: Peer) -> None:
    results = probe(networked, [(peer.address, peer.port)])
    assert results == {f"{peer.address}:{peer.port}": GREETING.decode()}


def test_network_false_does_not_reach_it(networked: Daemon, peer: Peer) -> None:
    """The same job without network has only `lo`: the peer is unreachable (ENETUNREACH)."""
    results = probe(networked, [(peer.address, peer.port)], network=False)
    assert results == {f"{peer.address}:{peer.port}": 101}  # ENETUNREACH


@pytest.mark.catalogue("NET-03", "NET-04")
def test_host_services_stay_out_of_reach(networked: Daemon, peer: Peer, host_listener: int) -> None:
    """Neither the host's loopback (directly or via slirp's gateway) nor any address of the
    host reaches a host service (a listener on 0.0.0.0) or the daemon's port."""
    daemon_port = urlsplit(networked.url).port
    assert daemon_port is not None
    targets = [("127.0.0.1", host_listener), ("10.0.2.2", host_listener), ("127.0.0.1", daemon_port),
               ("10.0.2.2", daemon_port)]
    targets += [(address, host_listener) for address in host_addresses()]
    assert PEER_HOST_SIDE in {host for host, _ in targets}
    results = probe(networked, targets)
    leaked = {target: answer for target, answer in results.items() if isinstance(answer, str)}
    assert leaked == {}
    # ... while the same listener answers on the host, so the probe could have succeeded
    with socket.create_connection((PEER_HOST_SIDE, host_listener), timeout=3) as s:
        assert s.recv(100) == b"host service\n"


@pytest.mark.catalogue("NET-03")
def test_private_and_metadata_ranges_are_rejected(networked: Daemon) -> None:
    targets = [("169.254.169.254", 80), ("10.1.2.3", 80), ("172.16.0.1", 80), ("192.168.1.1", 80),
               ("100.64.0.1", 80)]
    results = probe(networked, targets)
    assert all(isinstance(answer, int) for answer in results.values()), results


def test_job_sees_slirp_interface_and_resolver(networked: Daemon) -> None:
    code = ("import json\n"
            "dev = [l.split(':')[0].strip() for l in open('/proc/net/dev').read().splitlines()[2:]]\n"
            "print(json.dumps({'dev': sorted(dev), 'resolv': open('/etc/resolv.conf').read()}))\n")
    response = networked.post("/run", json={
        "build": {"environment": "python", "main_file": {"content": code}},
        "run": {"run_limits": {"network": True}},
    })
    run = response.json()["run"]
    assert json.loads(run["stdout"]) == {"dev": ["lo", "tap0"], "resolv": "nameserver 10.0.2.3\n"}


def test_compile_step_with_network_builds_and_runs(networked: Daemon) -> None:
    """Compile steps take the same path (own namespace, nsenter, slirp4netns) and still work."""
    code = "#include <stdio.h>\nint main(void) { puts(\"built\"); }\n"
    response = networked.post("/run", json={
        "build": {"environment": "c", "main_file": {"content": code}, "compile_limits": {"network": True}},
        "run": {"run_limits": {"network": True}},
    })
    assert response.status_code == 200, response.text
    assert response.json()["build"]["limits"]["network"] is True
    assert response.json()["run"]["stdout"] == "built\n"


def test_no_namespace_or_slirp_is_left_behind(networked: Daemon, peer: Peer) -> None:
    for _ in range(3):
        probe(networked, [(peer.address, peer.port)])
    pid = networked.process.pid
    namespaces = [p.name for p in Path("/run/netns").iterdir() if p.name.startswith(f"sandkasten-{pid}-")]
    assert namespaces == []
    slirps = []
    for proc in Path("/proc").iterdir():
        if proc.name.isdigit():
            try:
                cmdline = (proc / "cmdline").read_bytes()
            except OSError:
                continue
            if b"slirp4netns" in cmdline and f"sandkasten-{pid}-".encode() in cmdline:
                slirps.append(proc.name)
    assert slirps == []


def test_network_is_refused_when_the_maximum_forbids_it(daemon: Daemon) -> None:
    """The shared daemon keeps Sandkasten's default maximum (false): asking is a limits error."""
    response = daemon.post("/run", json={
        "build": {"environment": "python", "main_file": {"content": "pass"}},
        "run": {"run_limits": {"network": True}},
    })
    message = expect_error(response, 400, {"error": "run_limits_exceeded",
                                           "details": [{"name": "network", "max_value": 0}]})
    assert "`network`" in message
