"""The NATS transport: nodes on a NATS server or cluster, no daffi controller.

```text
daffi_core.transport.nats
 ├── subjects   subject names (a node's direct subject, the catalogue, heartbeats) and the timings
 ├── chunks     batches larger than the server's max_payload, split and joined again
 └── client     importing nats-py (extra ``daffi-node[nats]``) and connecting to the server
```

What travels is the protobuf of ``proto/daffi.proto`` unchanged: a serialized ``Batch`` on a
node's direct subject carries its call traffic (``Message`` frames, routed by the sending node
as the controller would) and the catalogue's answers; the catalogue subject carries ``Hello``
(a node joins), ``NodeInfo`` (its callbacks changed) and ``NodeLeft`` (it stops). The node side
is ``daffi._nats_link``; ``daffi_codegen`` asks the catalogue the same way.
"""

from __future__ import annotations

from daffi_core.transport import NATS

__all__ = ["NATS"]
