"""``transport="nats"`` under a fault: one server of a 3-server NATS cluster is SIGKILLed mid-load.

The caller (this test process) has 64 ``BG`` calls in flight to callees spread over the cluster
(tests/services/service.py's ``slow``, one second each) when a nats-server is killed. Two cases:
the killed server carries one of the callees (the caller's server survives), or it is the
caller's own server (the callees' servers survive). Either way:

- **no call hangs**: within a bounded wait every call is answered or failed with a named daffi
  error (``RemoteStoppedUnexpectedly``, ``daffi.TimeoutError``...), never a bare exception;
- **service resumes within 5 s** on the surviving servers, no node restarted: the time from the
  kill to the first successful new ``FG`` call (polled with short timeouts) is below 5 s.

The test prints a ``FIGURE`` line (answered, failed by type, seconds to resume; ``pytest -s`` shows
it) that docs/scaling.md quotes.
"""

from __future__ import annotations

import threading
import time
from collections import Counter

import pytest
from daffi import BG, FG, AsyncResult, DaffiError

from tests.support.nats import NatsServer, start_cluster
from tests.support.nodes import caller
from tests.support.procs import SERVICES, Proc, Procs

#: Calls in flight when the server dies, and how long each runs on its callee.
IN_FLIGHT = 64
CALL_SECONDS = 1.0
#: Seconds after the kill by which every call must be settled (answered or failed).
SETTLE_WITHIN = 15.0
#: Seconds after the kill by which a new FG call must succeed.
RESUME_WITHIN = 5.0
#: Timeout of each polling FG call while waiting for service to resume.
POLL_TIMEOUT = 0.5


@pytest.fixture
def cluster(procs: Procs, monkeypatch: pytest.MonkeyPatch) -> list[NatsServer]:
    """Three routed nats-servers (as test_nats.py's fixture); every process started speaks NATS."""
    monkeypatch.setenv("DAFFI_TRANSPORT", "nats")
    return start_cluster(procs, 3)


def _start_callees(procs: Procs, placement: dict[str, NatsServer]) -> dict[str, Proc]:
    """One service per name on its server, started together; returns once each is connected."""
    started = {
        name: procs.python(str(SERVICES / "service.py"), "--name", name, *server.where.argv)
        for name, server in placement.items()
    }
    for name, proc in started.items():
        proc.wait_line(f"READY {name}")
    return started


def _begun(callees: dict[str, Proc]) -> int:
    """How many ``slow`` calls began on the callees (counted in their output: threads' lines may share one)."""
    return sum(line.count("BEGIN slow") for proc in callees.values() for line in list(proc.lines))


def _watch(pending: list[AsyncResult[str]], until: float) -> dict[int, float]:
    """When each call settles (``time.monotonic``, by its uuid), noted by a thread polling until ``until``."""
    settled: dict[int, float] = {}

    def watch() -> None:
        while len(settled) < len(pending) and time.monotonic() < until:
            now = time.monotonic()
            for result in pending:
                if result.uuid not in settled and result.ready:
                    settled[result.uuid] = now
            time.sleep(0.005)

    threading.Thread(target=watch, name="settle-watch", daemon=True).start()
    return settled


# (the callees' servers, the caller's server, the server killed), as indexes into the cluster
CASES = {
    "callee-server": ([0, 1, 2], 0, 2),  # svc3's server dies; the caller's (and svc1's, svc2's) survive
    "caller-server": ([1, 2], 0, 0),  # the caller's server dies; the callees' servers survive
}


@pytest.mark.parametrize("case", list(CASES))
def test_server_killed_with_calls_in_flight(procs: Procs, cluster: list[NatsServer], case: str) -> None:
    on, caller_on, killed_index = CASES[case]
    placement = {f"svc{i + 1}": cluster[i] for i in on}
    callees = _start_callees(procs, placement)
    killed = cluster[killed_index]
    with caller(cluster[caller_on].where) as g:
        for name in placement:
            g.wait_process(name, timeout=10)
        assert {g.call.whoami() & FG(timeout=5) for _ in range(2 * len(placement))} == set(placement)

        pending = [g.call.slow(CALL_SECONDS) & BG for _ in range(IN_FLIGHT)]
        deadline = time.monotonic() + 10
        while _begun(callees) < IN_FLIGHT:  # every call is running on its callee: in flight
            assert time.monotonic() < deadline, f"only {_begun(callees)} of {IN_FLIGHT} calls began"
            time.sleep(0.01)

        killed.proc.kill()  # SIGKILL: no goodbye from the server, its clients' sockets just close
        kill_time = time.monotonic()
        settled_at = _watch(pending, kill_time + SETTLE_WITHIN)

        # service resumes: the first successful new FG call after the kill
        resumed: float | None = None
        poll_errors: Counter[str] = Counter()
        while resumed is None and time.monotonic() - kill_time < RESUME_WITHIN + 5:
            try:
                g.call.whoami() & FG(timeout=POLL_TIMEOUT)
            except DaffiError as exc:
                poll_errors[type(exc).__name__] += 1
                time.sleep(0.05)
            else:
                resumed = time.monotonic() - kill_time

        # the survivors all answer again, the callee that lost its server included (it reconnected)
        back: float | None = None
        seen: set[str] = set()
        while back is None and time.monotonic() - kill_time < SETTLE_WITHIN + 5:
            try:
                seen.add(g.call.whoami() & FG(timeout=POLL_TIMEOUT))
            except DaffiError:
                time.sleep(0.05)
            if seen == set(placement):
                back = time.monotonic() - kill_time

        # no call hangs: each in-flight call settles within SETTLE_WITHIN of the kill
        settle_deadline = kill_time + SETTLE_WITHIN
        while not all(result.ready for result in pending) and time.monotonic() < settle_deadline:
            time.sleep(0.05)
        hung = [result for result in pending if not result.ready]
        answered = 0
        last_failure = 0.0
        failed: Counter[str] = Counter()
        samples: dict[str, str] = {}
        strays: list[BaseException] = []
        for result in pending:
            if not result.ready:
                continue
            error = result.error
            if error is None:
                answered += 1
                continue
            failed[type(error).__name__] += 1
            samples.setdefault(type(error).__name__, str(error))
            last_failure = max(last_failure, settled_at.get(result.uuid, kill_time + SETTLE_WITHIN) - kill_time)
            if not isinstance(error, DaffiError) or type(error) is DaffiError:
                strays.append(error)

    resume_text = "never" if resumed is None else f"{resumed:.2f} s"
    back_text = "never" if back is None else f"{back:.2f} s"
    print(
        f"\nFIGURE nats-fault ({case}): killed {killed.name}; {IN_FLIGHT} in flight: answered {answered}, "
        f"failed {dict(failed)} (the last {last_failure:.2f} s after the kill), hung {len(hung)}; "
        f"first FG after the kill {resume_text} (failed polls {dict(poll_errors)}); "
        f"every callee answering {back_text}; e.g. {samples}"
    )
    assert not hung, f"{len(hung)} of {IN_FLIGHT} calls still pending {SETTLE_WITHIN} s after the kill"
    assert not strays, f"calls failed with errors that are not named daffi errors: {strays!r}"
    assert answered + sum(failed.values()) == IN_FLIGHT
    assert resumed is not None and resumed < RESUME_WITHIN, f"no FG call succeeded within {RESUME_WITHIN} s"
    assert back is not None, f"not every callee answered again: {sorted(seen)} of {sorted(placement)}"
    if case == "callee-server":
        assert answered > 0  # the calls to the callees whose server lived were answered
    assert not any("controller" in text for text in samples.values()), samples  # NATS runs none
