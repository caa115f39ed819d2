"""Jobs without network (catalogue NET-01..05), through the real daemon over HTTP.

A job that does not ask for network (the default) gets a network namespace of its own with only
a loopback interface, so nothing outside the job can be reached, and the seccomp policy denies
AF_NETLINK and AF_PACKET sockets on top. Jobs *with* `network: true` (slirp4netns behind an
egress filter) are tested in test_outbound_network.py, including NET-03/NET-04 for them.
"""

from __future__ import annotations

import errno
import os
import socket
import time
import uuid
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest

from tests.security.jobs import clean_json_stdout as json_stdout
from tests.security.jobs import run

pytestmark = pytest.mark.sandbox

POLL_DEADLINE_S = 10


# ------------------------------------------------------------------------------------ helpers


# ------------------------------------------------------------------------------------ NET-01/02

NETWORK_C = r"""
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <linux/if_ether.h>
#include <net/if.h>
#include <net/route.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <unistd.h>

static int error_of(long result) { return result < 0 ? errno : 0; }

static int connect4(int type, const char *ip, int port) {
    int s = socket(AF_INET, type, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons(port)};
    inet_pton(AF_INET, ip, &a.sin_addr);
    int e = error_of(connect(s, (struct sockaddr *)&a, sizeof a));
    close(s);
    return e;
}

static int new_socket(int family, int type, int protocol) {
    int s = socket(family, type, protocol);
    int e = error_of(s);
    if (s >= 0) close(s);
    return e;
}

int main(void) {
    int s = socket(AF_INET, SOCK_DGRAM, 0);
    struct ifreq reqs[16];
    struct ifconf conf = {.ifc_len = sizeof reqs, .ifc_req = reqs};
    ioctl(s, SIOCGIFCONF, &conf);
    printf("{\"interfaces\": [");
    for (int i = 0; i < conf.ifc_len / (int)sizeof(struct ifreq); i++) {
        char address[INET_ADDRSTRLEN];
        inet_ntop(AF_INET, &((struct sockaddr_in *)&reqs[i].ifr_addr)->sin_addr, address, sizeof address);
        printf("%s[\"%s\", \"%s\"]", i ? ", " : "", reqs[i].ifr_name, address);
    }
    struct ifreq lo = {0};
    strcpy(lo.ifr_name, "lo");
    ioctl(s, SIOCGIFFLAGS, &lo);
    int lo_up = !!(lo.ifr_flags & IFF_UP);
    lo.ifr_flags &= ~IFF_UP;
    int lo_down = error_of(ioctl(s, SIOCSIFFLAGS, &lo));
    struct rtentry route = {0};
    ((struct sockaddr_in *)&route.rt_dst)->sin_family = AF_INET;
    ((struct sockaddr_in *)&route.rt_genmask)->sin_family = AF_INET;
    ((struct sockaddr_in *)&route.rt_gateway)->sin_family = AF_INET;
    inet_pton(AF_INET, "127.0.0.1", &((struct sockaddr_in *)&route.rt_gateway)->sin_addr);
    route.rt_flags = RTF_UP | RTF_GATEWAY;
    int add_route = error_of(ioctl(s, SIOCADDRT, &route));
    struct sockaddr_in dns = {.sin_family = AF_INET, .sin_port = htons(53)};
    inet_pton(AF_INET, "1.1.1.1", &dns.sin_addr);
    int udp = error_of(sendto(s, "x", 1, 0, (struct sockaddr *)&dns, sizeof dns));
    close(s);
    s = socket(AF_INET6, SOCK_STREAM, 0);
    struct sockaddr_in6 a6 = {.sin6_family = AF_INET6, .sin6_port = htons(53)};
    inet_pton(AF_INET6, "2606:4700:4700::1111", &a6.sin6_addr);
    int tcp6 = error_of(connect(s, (struct sockaddr *)&a6, sizeof a6));
    close(s);
    struct addrinfo *found;
    int resolved = getaddrinfo("example.com", "80", NULL, &found) == 0;
    printf("], \"lo_up\": %d, \"set_lo_down\": %d, \"add_default_route\": %d, \"udp_sendto\": %d, "
           "\"tcp_connect\": %d, \"udp_connect\": %d, \"tcp_metadata\": %d, \"tcp6_connect\": %d, "
           "\"raw_icmp\": %d, \"raw_icmp6\": %d, \"raw_tcp\": %d, \"ping_socket\": %d, "
           "\"packet\": %d, \"packet_dgram\": %d, \"netlink_route\": %d, \"resolved\": %d}\n",
           lo_up, lo_down, add_route, udp,
           connect4(SOCK_STREAM, "1.1.1.1", 53), connect4(SOCK_DGRAM, "8.8.8.8", 53),
           connect4(SOCK_STREAM, "169.254.169.254", 80), tcp6,
           new_socket(AF_INET, SOCK_RAW, IPPROTO_ICMP), new_socket(AF_INET6, SOCK_RAW, IPPROTO_ICMPV6),
           new_socket(AF_INET, SOCK_RAW, IPPROTO_TCP), new_socket(AF_INET, SOCK_DGRAM, IPPROTO_ICMP),
           new_socket(AF_PACKET, SOCK_RAW, htons(ETH_P_ALL)), new_socket(AF_PACKET, SOCK_DGRAM, htons(ETH_P_IP)),
           new_socket(AF_NETLINK, SOCK_RAW, 0), resolved);
    return 0;
}
"""


@pytest.fixture(scope="module")
def c_network(daemon: Any) -> dict[str, Any]:
    out: dict[str, Any] = json_stdout(run(daemon, "c", NETWORK_C, run_limits={"time": 5}))
    return out


@pytest.mark.catalogue("NET-01")
def test_c_only_loopback_and_nothing_outside(c_network: dict[str, Any]) -> None:
    assert c_network["interfaces"] == [["lo", "127.0.0.1"]], c_network
    assert c_network["lo_up"] == 1, c_network
    unreachable = {k: c_network[k] for k in ("udp_sendto", "tcp_connect", "udp_connect", "tcp_metadata",
                                             "tcp6_connect")}
    assert unreachable == {k: errno.ENETUNREACH for k in unreachable}, c_network
    assert c_network["resolved"] == 0, "a name was resolved without a network"


@pytest.mark.catalogue("NET-02")
def test_c_raw_packet_netlink_sockets_and_route_changes_are_denied(c_network: dict[str, Any]) -> None:
    """Raw IP sockets need CAP_NET_RAW (EPERM), ICMP ping sockets are outside the namespace's
    ping_group_range (EACCES), AF_PACKET and AF_NETLINK are denied by the seccomp policy, and
    interfaces and routes cannot be changed without CAP_NET_ADMIN."""
    denied = {k: c_network[k] for k in ("raw_icmp", "raw_icmp6", "raw_tcp", "packet", "packet_dgram",
                                        "netlink_route", "set_lo_down", "add_default_route")}
    assert denied == {k: errno.EPERM for k in denied}, c_network
    assert c_network["ping_socket"] == errno.EACCES, c_network


NETWORK_PY = r"""
import json, socket
out = {}
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

attempt("tcp", lambda: tcp("1.1.1.1", 443))
attempt("tcp6", lambda: tcp("2606:4700:4700::1111", 443, socket.AF_INET6))
attempt("udp", udp)
attempt("dns", lambda: socket.getaddrinfo("example.com", 80))
attempt("dns_metadata_name", lambda: socket.getaddrinfo("metadata.google.internal", 80))
attempt("raw_icmp", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP).close())
attempt("packet", lambda: socket.socket(socket.AF_PACKET, socket.SOCK_RAW).close())
attempt("netlink", lambda: socket.socket(socket.AF_NETLINK, socket.SOCK_RAW).close())
with open("/proc/net/dev") as f:
    out["proc_net_dev"] = [line.split(":")[0].strip() for line in f.read().splitlines()[2:]]
with open("/proc/net/route") as f:
    out["proc_net_route"] = f.read().splitlines()[1:]
with open("/proc/net/if_inet6") as f:
    out["if_inet6"] = sorted({line.split()[-1] for line in f.read().splitlines()})
print(json.dumps(out))
"""


@pytest.mark.catalogue("NET-01", "NET-02")
def test_python_no_network(daemon: Any) -> None:
    out = json_stdout(run(daemon, "python", NETWORK_PY, run_limits={"time": 8}))
    assert out == {
        "tcp": errno.ENETUNREACH, "tcp6": errno.ENETUNREACH, "udp": errno.ENETUNREACH,
        "dns": "gaierror", "dns_metadata_name": "gaierror",
        "raw_icmp": errno.EPERM, "packet": errno.EPERM, "netlink": errno.EPERM,
        "proc_net_dev": ["lo"], "proc_net_route": [], "if_inet6": ["lo"],
    }, out


NETWORK_BASH = r"""
for target in /dev/tcp/1.1.1.1/53 /dev/udp/1.1.1.1/53 /dev/tcp/169.254.169.254/80; do
    if (exec 3<> "$target") 2> /dev/null; then echo "$target open"; else echo "$target blocked"; fi
done
ls /sys/class/net 2> /dev/null || echo "no /sys/class/net"
cut -d: -f1 /proc/net/dev | tail -n +3 | tr -d ' '
"""


@pytest.mark.catalogue("NET-01")
def test_bash_no_network(daemon: Any) -> None:
    """/dev/udp "connects" without sending, so it fails only for want of a route."""
    result = run(daemon, "bash", NETWORK_BASH, run_limits={"time": 8})
    assert (result["status"], result["stdout"]) == (0, (
        "/dev/tcp/1.1.1.1/53 blocked\n/dev/udp/1.1.1.1/53 blocked\n/dev/tcp/169.254.169.254/80 blocked\n"
        "no /sys/class/net\nlo\n")), result


# ------------------------------------------------------------------------------------ NET-03/04


@pytest.fixture
def host_listener() -> Iterator[socket.socket]:
    """A TCP listener on the host's 127.0.0.1 that must never see a connection from a job."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(16)
        listener.setblocking(False)
        yield listener


def accepted_connections(listener: socket.socket) -> int:
    count = 0
    while True:
        try:
            connection, _ = listener.accept()
        except BlockingIOError:
            return count
        connection.close()
        count += 1


REACH_HOST_PY = r"""
import json, socket
out = {{}}
for name, (host, port) in {targets!r}.items():
    try:
        with socket.create_connection((host, port), timeout=3):
            out[name] = "connected"
    except socket.gaierror:
        out[name] = "gaierror"
    except OSError as e:
        out[name] = e.errno
print(json.dumps(out))
"""


@pytest.mark.catalogue("NET-03", "NET-04")
def test_without_network_host_services_are_unreachable(daemon: Any, host_listener: socket.socket) -> None:
    """The job's 127.0.0.1 is its own loopback: the host's listeners (one of the test's, the
    daemon's API and metrics port) are not there, and there is no route to the metadata address.
    (With `network: true`: test_outbound_network.py.)"""
    port = urlsplit(daemon.url).port
    targets = {"test_listener": ("127.0.0.1", host_listener.getsockname()[1]), "daemon_port": ("127.0.0.1", port),
               "daemon_port_localhost": ("localhost", port), "metadata": ("169.254.169.254", 80)}
    out = json_stdout(run(daemon, "python", REACH_HOST_PY.format(targets=targets), run_limits={"time": 10}))
    localhost = out.pop("daemon_port_localhost")
    assert out == {"test_listener": errno.ECONNREFUSED, "daemon_port": errno.ECONNREFUSED,
                   "metadata": errno.ENETUNREACH}, out
    # "localhost" may not even resolve (there is no /etc/hosts); if it does, it is the job's own loopback
    assert localhost in ("gaierror", errno.ECONNREFUSED, errno.EADDRNOTAVAIL), localhost
    assert accepted_connections(host_listener) == 0


# ------------------------------------------------------------------------------------ NET-05


def processes_by_argv0(markers: set[str]) -> dict[str, int]:
    """Host pids of the processes whose argv[0] is one of `markers`."""
    found = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit():
            try:
                argv0 = (entry / "cmdline").read_bytes().split(b"\0")[0].decode(errors="replace")
            except OSError:
                continue
            if argv0 in markers:
                found[argv0] = int(entry.name)
    return found


@pytest.mark.catalogue("NET-05")
def test_concurrent_jobs_each_get_a_fresh_network_namespace(daemon: Any) -> None:
    """Under concurrent load every job gets namespaces of its own: seen from the host while all
    jobs are alive at once, no two share a network (or other) namespace and none is the host's.
    How long creating them takes is measured by the benchmark, not asserted here."""
    jobs = 6
    markers = {f"netns-marker-{uuid.uuid4()}" for _ in range(jobs)}
    names = ("net", "user", "ipc", "uts", "pid", "mnt")
    host = {name: os.readlink(f"/proc/self/ns/{name}") for name in names}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        sleepers = [pool.submit(run, daemon, "bash", f"exec -a {marker} sleep 1000\n", run_limits={"time": 3})
                    for marker in markers]
        deadline = time.monotonic() + POLL_DEADLINE_S
        while True:
            pids = processes_by_argv0(markers)
            if len(pids) == jobs:
                try:
                    seen = {marker: {name: os.readlink(f"/proc/{pid}/ns/{name}") for name in names}
                            for marker, pid in pids.items()}
                    break
                except FileNotFoundError:  # one ended between listing and reading
                    pass
            assert not any(s.done() for s in sleepers), "a job ended before all of them were running"
            assert time.monotonic() < deadline, f"only {len(pids)} of {jobs} jobs were running at once"
            time.sleep(0.01)  # poll interval
        results = [s.result() for s in sleepers]
    assert all(r["exceeded"] == ["time"] for r in results), results
    for name in names:
        in_jobs = [namespaces[name] for namespaces in seen.values()]
        assert host[name] not in in_jobs, f"a job shares the host's {name} namespace"
        assert len(set(in_jobs)) == jobs, f"jobs share a {name} namespace: {in_jobs}"
