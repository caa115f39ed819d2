"""Outbound network for jobs that ask for it: a network namespace of their own, never the host's.

A job with `network: true` runs in a fresh network namespace made by the daemon:

* slirp4netns gives it a `tap0` interface with NAT to the outside (10.0.2.100, gateway 10.0.2.2,
  DNS forwarder 10.0.2.3). slirp4netns runs with `--disable-host-loopback` (the gateway does not
  lead to the host's 127.0.0.1), in its own sandbox and seccomp filter, and exits when the daemon
  closes its exit pipe.
* an nftables ruleset in that namespace rejects everything that is not the public internet:
  loopback, private, link-local (cloud metadata), CGNAT and multicast ranges, and every address
  of the host itself (so services of the host, the daemon included, stay out of reach even on
  its public addresses). The job cannot change the rules: the namespace belongs to the host's
  user namespace, in which the job has no capabilities.
* nsjail is started inside the namespace (through `nsenter`) and told not to make another one.

Jobs without network get nsjail's own empty network namespace (only `lo`), as before.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import os
import shutil
import signal
from collections.abc import AsyncIterator
from pathlib import Path

from sandkasten_py.sandbox.processes import process_alive

log = logging.getLogger(__name__)

NETNS_DIR = Path("/run/netns")
PREFIX = "sandkasten-"
DNS = "10.0.2.3"
# "this" network, private ranges, CGNAT, loopback, link-local (cloud metadata), multicast+reserved
BLOCKED_IPV4 = (
    "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
    "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/3",
)
TOOLS = ("ip", "nft", "slirp4netns", "nsenter", "unshare")
READY_TIMEOUT_S = 10.0


class NetworkError(Exception):
    """A job's network could not be set up."""


def egress_ruleset(host_addresses: list[str]) -> str:
    """The nftables ruleset of a job's namespace: only the public internet, and DNS via slirp."""
    blocked = ", ".join((*BLOCKED_IPV4, *host_addresses))
    return (
        "table inet sandkasten {\n"
        "  chain output {\n"
        "    type filter hook output priority 0; policy accept;\n"
        '    oifname "lo" accept\n'
        f"    ip daddr {DNS} udp dport 53 accept\n"
        f"    ip daddr {DNS} tcp dport 53 accept\n"
        f"    ip daddr {{ {blocked} }} reject\n"
        "    meta nfproto ipv6 reject\n"
        "  }\n"
        "}\n"
    )


def parse_host_addresses(ip_json: str) -> list[str]:
    """IPv4 addresses of the host from `ip -j addr show` (loopback ones are blocked anyway)."""
    addresses = []
    for link in json.loads(ip_json):
        for info in link.get("addr_info", []):
            if info.get("family") == "inet" and not info.get("local", "").startswith("127."):
                addresses.append(info["local"])
    return sorted(set(addresses))


class Networks:
    """Makes and removes the network namespaces of jobs with network access."""

    def __init__(self, tools: dict[str, str], resolv_conf: str) -> None:
        self.tools = tools
        self.resolv_conf = resolv_conf
        self._exit_read, self._exit_write = os.pipe()  # slirp4netns exits when this closes

    @classmethod
    def find(cls, state_dir: str = "/run/sandkasten") -> Networks | None:
        """Networks, if this host has the tools (ip, nft, slirp4netns, nsenter, unshare).

        `state_dir` receives the jobs' /etc/resolv.conf (pointing at slirp4netns's DNS).
        """
        search = os.pathsep.join([os.environ.get("PATH", ""), "/usr/sbin:/usr/bin:/sbin:/bin"])
        tools = {name: shutil.which(name, path=search) for name in TOOLS}
        if not all(tools.values()):
            missing = [name for name, path in tools.items() if not path]
            log.warning("outbound network for jobs unavailable, missing: %s", ", ".join(missing))
            return None
        os.makedirs(state_dir, mode=0o755, exist_ok=True)
        resolv_conf = os.path.join(state_dir, "resolv.conf")
        with open(resolv_conf, "w") as f:
            f.write(f"nameserver {DNS}\n")
        os.chmod(resolv_conf, 0o644)
        return cls({n: p for n, p in tools.items() if p}, resolv_conf)

    async def remove_leftovers(self) -> None:
        """Delete job namespaces of daemons that are gone."""
        if not NETNS_DIR.is_dir():
            return
        for entry in NETNS_DIR.iterdir():
            owner = entry.name.removeprefix(PREFIX).split("-", 1)[0]
            if entry.name.startswith(PREFIX) and owner.isdigit() and not process_alive(int(owner)):
                await self._run("ip", "netns", "delete", entry.name, check=False)

    @contextlib.asynccontextmanager
    async def namespace(self, job: str) -> AsyncIterator[str]:
        """A namespace with outbound access for one job; yields its path (for nsenter)."""
        name = f"{PREFIX}{os.getpid()}-{job}"
        await self._run("ip", "netns", "add", name)
        slirp: asyncio.subprocess.Process | None = None
        try:
            await self._run("ip", "-n", name, "link", "set", "lo", "up")
            host = parse_host_addresses(await self._run("ip", "-j", "addr", "show"))
            ruleset = self._run("ip", "netns", "exec", name, self.tools["nft"], "-f", "-",
                                stdin=egress_ruleset(host))
            slirp_ready = self._start_slirp(name)
            _, slirp = await asyncio.gather(ruleset, slirp_ready)
            yield str(NETNS_DIR / name)
        finally:
            if slirp is not None and slirp.returncode is None:
                slirp.send_signal(signal.SIGTERM)
                await slirp.wait()
            await self._run("ip", "netns", "delete", name, check=False)

    async def _start_slirp(self, name: str) -> asyncio.subprocess.Process:
        ready_read, ready_write = os.pipe()
        try:
            # In a private mount namespace: slirp4netns's own sandbox changes mounts, which must
            # not propagate to the host's /run/netns.
            process = await asyncio.create_subprocess_exec(
                self.tools["unshare"], "--mount", "--propagation", "private",
                self.tools["slirp4netns"], "--configure", "--mtu=65520", "--disable-host-loopback",
                "--enable-sandbox", "--enable-seccomp",
                f"--ready-fd={ready_write}", f"--exit-fd={self._exit_read}",
                "--netns-type=path", str(NETNS_DIR / name), "tap0",
                stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.DEVNULL, pass_fds=(ready_write, self._exit_read),
            )
        finally:
            os.close(ready_write)
        try:
            ready = await asyncio.wait_for(_read_byte(ready_read), READY_TIMEOUT_S)
        except asyncio.TimeoutError:
            ready = b""
        finally:
            os.close(ready_read)
        if not ready:
            if process.returncode is None:
                process.kill()
            await process.wait()
            raise NetworkError(f"slirp4netns did not start for {name}")
        return process

    async def _run(self, tool: str, *args: str, stdin: str | None = None, check: bool = True) -> str:
        process = await asyncio.create_subprocess_exec(
            self.tools[tool], *args,
            stdin=asyncio.subprocess.PIPE if stdin is not None else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.PIPE,
        )
        out, err = await process.communicate(stdin.encode() if stdin is not None else None)
        if check and process.returncode != 0:
            raise NetworkError(f"{tool} {' '.join(args[:3])}: {err.decode(errors='replace').strip()}")
        return out.decode()


async def _read_byte(fd: int) -> bytes:
    loop = asyncio.get_running_loop()
    done: asyncio.Future[bytes] = loop.create_future()

    def on_readable() -> None:
        if not done.done():
            try:
                done.set_result(os.read(fd, 1))
            except OSError:
                done.set_result(b"")

    loop.add_reader(fd, on_readable)
    try:
        return await done
    finally:
        loop.remove_reader(fd)
