"""Typed in-process fakes of remote nodes, for the unit tests of code that calls them.

```python
from daffi.testing import fake_nodes
from stubs.worker import process_item

with fake_nodes() as nodes:
    nodes.add("worker").serve(process_item, lambda x: str(x * 2))  # mypy checks the lambda
    assert process_item(5) == "10"
    assert nodes["worker"].calls(process_item) == [((5,), {})]
```

No controller, no sockets, no threads (but for the async runner an ``async`` ``args_from_body``
fetcher body needs, made when first used): ``fake_nodes()`` becomes the process's running Global,
and calls go through the real caller (``FG``, ``BG``, ``BROADCAST``, ``STREAM``, ``PERIOD``,
generators, timeouts, errors) to fake callees that answer as real ones do, in the calling thread.
Arguments and results go through the real serializer, so what cannot travel fails here as in
production; a raising implementation gives ``RemoteCallError`` with the remote traceback.

How implementations run:

- A sync implementation runs in the thread that makes the call, before the call returns.
- An awaitable an implementation returns (an async stub's) runs on the asyncio loop of the calling
  thread (a task; the reply follows when it completes), or, under trio, as a trio system task
  (``trio.lowlevel.spawn_system_task``: it may await trio, and is cancelled when ``trio.run``
  ends); with no loop in the calling thread it runs to the end at once (``asyncio.run``: it
  must not need trio then). Await such a call: a blocking ``get()`` (or using the value) on the
  loop that runs the implementation raises ``DaffiError`` instead of hanging. A ``STREAM`` item's
  awaitable always runs to the end at once (an async fetcher's stream is sent from a thread).
- A generator stub's implementation returns an iterable: items are produced lazily, at most
  ``YIELD_WINDOW`` (64) ahead of what the consumer acknowledged, so an endless one works, and
  leaving the loop closes it (a generator's ``finally`` runs).
- ``nodes.clock`` (``FakeClock``) is the time of ``PERIOD`` runs, ``BG(eta=...)`` and the caller's
  call timeouts: they happen only inside ``nodes.clock.advance(seconds)``. ``PERIOD(at_time=...)``
  takes real timestamps (it checks them against ``time.time()``); the clock starts at
  ``time.time()`` when ``fake_nodes()`` is made.
- A callback nobody serves fails as in production, after the caller's grace for a node that is
  still starting (``daffi._execute.UNKNOWN_CALLBACK_GRACE``, 3 s): ``UnableToFindCandidate``.
"""

from daffi.testing._clock import FakeClock
from daffi.testing._fakes import FakeNode, FakeNodes, Stub, fake_nodes
from daffi.testing._switchboard import YIELD_WINDOW

__all__ = ["YIELD_WINDOW", "FakeClock", "FakeNode", "FakeNodes", "Stub", "fake_nodes"]
