"""The pure parts of job networking: the egress ruleset and the host's addresses."""

from __future__ import annotations

import json

from sandkasten_py.sandbox.network import BLOCKED_IPV4, DNS, egress_ruleset, parse_host_addresses


def test_ruleset_rejects_private_ranges_and_host_addresses_but_allows_dns() -> None:
    rules = egress_ruleset(["203.0.113.1", "192.0.2.7"])
    reject = next(line for line in rules.splitlines() if line.strip().endswith("reject") and "daddr {" in line)
    for network in (*BLOCKED_IPV4, "203.0.113.1", "192.0.2.7"):
        assert network in reject
    accepts = [line.strip() for line in rules.splitlines() if line.strip().endswith("accept")]
    assert accepts == ['oifname "lo" accept', f"ip daddr {DNS} udp dport 53 accept",
                       f"ip daddr {DNS} tcp dport 53 accept"]
    # the DNS accept must come before the reject of 10.0.0.0/8, which contains it
    assert rules.index(f"ip daddr {DNS} udp") < rules.index("10.0.0.0/8")
    assert "meta nfproto ipv6 reject" in rules


def test_blocked_ranges_cover_loopback_private_and_metadata() -> None:
    for network in ("127.0.0.0/8", "10.0.0.0/8", "172.16.0.0/12", "192.168.0.0/16", "169.254.0.0/16"):
        assert network in BLOCKED_IPV4


def test_host_addresses_from_ip_json() -> None:
    ip_json = json.dumps([
        {"ifname": "lo", "addr_info": [{"family": "inet", "local": "127.0.0.1"},
                                       {"family": "inet6", "local": "::1"}]},
        {"ifname": "eth0", "addr_info": [{"family": "inet", "local": "198.51.100.4"},
                                         {"family": "inet6", "local": "2001:db8::4"}]},
        {"ifname": "veth0", "addr_info": [{"family": "inet", "local": "203.0.113.1"}]},
        {"ifname": "down0"},
    ])
    assert parse_host_addresses(ip_json) == ["198.51.100.4", "203.0.113.1"]
