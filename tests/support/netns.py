"""Separate "hosts" for tests: network namespaces joined by veth pairs, and silent cuts between them.

Every namespace and link is created by the test and deleted by ``Network.close()`` (deleting a
namespace destroys its veth ends too); nothing is added to the namespace the tests run in.
Names carry this process's pid, so concurrent runs do not collide and the leftovers of a run
that was SIGKILLed are removed by the next one.

How a link is cut: each end knows the other's MAC address through a permanent neighbour entry
(no ARP), and ``Link.cut()`` points both entries at an unused MAC. Frames still leave; the
receiving veth discards them (addressed to another host) and nobody is told: no link-down, no
ICMP, no error on any socket — what a pulled cable between two switches or a black-holing
firewall looks like. ``Link.restore()`` puts the real MACs back. This needs nothing but
iproute2: ``tc netem`` and iptables/nft would do the same, but kernels and CI images often lack
``sch_netem`` or the firewall tools (this project's machine has neither).
"""

from __future__ import annotations

import itertools
import json
import os
import shutil
import subprocess
from dataclasses import dataclass, field

#: Namespaces of this module are named ``<PREFIX><pid>-<n>-<label>``.
PREFIX = "daffi-test-"
#: A locally administered unicast MAC that no veth here uses: frames sent to it are dropped.
NOWHERE_MAC = "02:00:5e:00:de:ad"
_TIMEOUT = 10.0
_counter = itertools.count(1)


class Unavailable(Exception):
    """The system refuses network namespaces or veth pairs (not root, no iproute2, kernel)."""


def _ip_binary() -> str | None:
    return shutil.which("ip") or next((p for p in ("/usr/sbin/ip", "/sbin/ip") if os.path.exists(p)), None)


def ip(*args: str) -> str:
    """Run ``ip ARGS``; raise RuntimeError with its output when it fails."""
    binary = _ip_binary()
    if binary is None:
        raise Unavailable("iproute2's `ip` command is not installed")
    done = subprocess.run([binary, *args], capture_output=True, text=True, timeout=_TIMEOUT, check=False)
    if done.returncode != 0:
        raise RuntimeError(f"`ip {' '.join(args)}` failed ({done.returncode}): {done.stderr.strip()}")
    return done.stdout


@dataclass
class Host:
    """One network namespace: a "host" with its own interfaces, addresses and ports."""

    namespace: str

    def argv(self, *command: str) -> list[str]:
        """``command`` run inside this host (``ip netns exec`` execs it: the pid is the command's)."""
        binary = _ip_binary()
        assert binary is not None
        return [binary, "netns", "exec", self.namespace, *command]


@dataclass
class Link:
    """A veth pair between two hosts, on a /30 of its own: ``a`` is ``.1``, ``b`` is ``.2``."""

    a: Host
    b: Host
    a_dev: str
    b_dev: str
    a_ip: str
    b_ip: str
    a_mac: str = ""
    b_mac: str = ""
    is_cut: bool = field(default=False, init=False)

    def _point(self, a_sees: str, b_sees: str) -> None:
        ip(
            "-n",
            self.a.namespace,
            "neigh",
            "replace",
            self.b_ip,
            "lladdr",
            a_sees,
            "dev",
            self.a_dev,
            "nud",
            "permanent",
        )
        ip(
            "-n",
            self.b.namespace,
            "neigh",
            "replace",
            self.a_ip,
            "lladdr",
            b_sees,
            "dev",
            self.b_dev,
            "nud",
            "permanent",
        )

    def cut(self) -> None:
        """Drop every packet between the two ends from now on, in both directions, silently."""
        self._point(NOWHERE_MAC, NOWHERE_MAC)
        self.is_cut = True

    def restore(self) -> None:
        """Deliver packets again (TCP connections that are still open resume)."""
        self._point(self.b_mac, self.a_mac)
        self.is_cut = False


def _mac(host: Host, dev: str) -> str:
    info = json.loads(ip("-n", host.namespace, "-j", "link", "show", "dev", dev))
    return str(info[0]["address"])


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def remove_stale() -> None:
    """Delete this module's namespaces whose creating process no longer exists."""
    for line in ip("netns", "list").splitlines():
        name = line.split()[0] if line.strip() else ""
        if not name.startswith(PREFIX):
            continue
        pid = name[len(PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not _pid_alive(int(pid)):
            try:
                ip("netns", "delete", name)
            except RuntimeError:
                pass


class Network:
    """Hosts and links of one test; ``close()`` deletes all of them (call it in a finalizer).

    Raises Unavailable from the first host when this system cannot create namespaces.
    """

    def __init__(self) -> None:
        self.tag = f"{PREFIX}{os.getpid()}-{next(_counter)}"
        self.hosts: list[Host] = []
        self.links: list[Link] = []

    def host(self, label: str) -> Host:
        """A new namespace with its loopback up."""
        if not self.hosts:
            try:
                remove_stale()
            except RuntimeError as exc:
                raise Unavailable(f"cannot list network namespaces: {exc}") from None
        host = Host(f"{self.tag}-{label}")
        try:
            ip("netns", "add", host.namespace)
        except RuntimeError as exc:
            raise Unavailable(
                f"the kernel refused a network namespace (root and CAP_SYS_ADMIN needed): {exc}"
            ) from None
        self.hosts.append(host)
        ip("-n", host.namespace, "link", "set", "lo", "up")
        return host

    def link(self, a: Host, b: Host) -> Link:
        """Join two hosts with a veth pair on 10.213.<n>.0/30 (created inside the namespaces)."""
        n = len(self.links) + 1
        link = Link(a, b, a_dev=f"veth{n}a", b_dev=f"veth{n}b", a_ip=f"10.213.{n}.1", b_ip=f"10.213.{n}.2")
        try:
            ip(
                "-n",
                a.namespace,
                "link",
                "add",
                link.a_dev,
                "type",
                "veth",
                "peer",
                "name",
                link.b_dev,
                "netns",
                b.namespace,
            )
        except RuntimeError as exc:
            raise Unavailable(f"the kernel refused a veth pair: {exc}") from None
        self.links.append(link)
        for host, dev, addr in ((a, link.a_dev, link.a_ip), (b, link.b_dev, link.b_ip)):
            ip("-n", host.namespace, "addr", "add", f"{addr}/30", "dev", dev)
            ip("-n", host.namespace, "link", "set", dev, "up")
        link.a_mac, link.b_mac = _mac(a, link.a_dev), _mac(b, link.b_dev)
        link.restore()  # permanent neighbour entries from the start: no ARP, cut and restore are instant
        return link

    def close(self) -> None:
        """Delete every namespace (and so every veth) of this network; safe to call twice."""
        errors = []
        for host in reversed(self.hosts):
            try:
                ip("netns", "delete", host.namespace)
            except RuntimeError as exc:
                errors.append(str(exc))
        self.hosts.clear()
        self.links.clear()
        if errors:
            raise RuntimeError("; ".join(errors))


__all__ = ["NOWHERE_MAC", "Host", "Link", "Network", "Unavailable", "ip", "remove_stale"]
