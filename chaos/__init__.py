"""The load harness of the reliability issue: ``hatch run chaos:all`` (see docs/reliability-load.md).

Three scenarios, each in fresh real processes on loopback TCP or a UNIX socket (or, with ``--transport nats``,
on one nats-server and no controller), each under a hard deadline after which every process group it started
is SIGKILLed:

- ``nodes``: 100 node processes on one controller, a broadcast to all of them;
- ``calls``: up to 1M calls from one caller to one callee, memory sampled along the way;
- ``stream``: a 1M-item stream from a generator into a slow consumer.
"""
