"""Protocol constants shared by the controller and the node."""

from __future__ import annotations

from daffi_core.proto import daffi_pb2 as pb

__all__ = [
    "BATCH_BYTES",
    "CATALOG_METHOD",
    "CHUNK_SIZE",
    "CONNECT_METHOD",
    "HEALTH_METHOD",
    "INSPECT_METHOD",
    "DOWNSTREAM",
    "MAX_MESSAGE_BYTES",
    "PROTOCOL_VERSION",
    "QUEUE_HIGH_BYTES",
    "QUEUE_LOW_BYTES",
    "UPSTREAM",
    "Kind",
]

#: Bumped on any incompatible change of ``proto/daffi.proto``; the handshake refuses a mismatch.
PROTOCOL_VERSION = 1

#: Largest payload piece in one frame; gRPC's default limit is 4 MiB per message.
CHUNK_SIZE = 2 * 1024 * 1024
#: A batch is sent once its payload bytes reach this, even if more frames are queued.
BATCH_BYTES = 2 * 1024 * 1024
#: A controller stops reading from a sender while a receiver it feeds has this many payload
#: bytes queued, and resumes once they are below ``QUEUE_LOW_BYTES``: memory stays bounded
#: when a sender outpaces a receiver.
QUEUE_HIGH_BYTES = 4 * 1024 * 1024
QUEUE_LOW_BYTES = 2 * 1024 * 1024
#: Per-message limit configured on both sides (a batch with a full chunk and headers fits).
MAX_MESSAGE_BYTES = 8 * 1024 * 1024

#: The one stream of a node; it carries serialized ``Batch`` messages (see ``daffi_core.framing``).
CONNECT_METHOD = "/daffi.v1.Controller/Connect"
#: Request-response methods: the catalog of every node (``Catalog``), and the health question
#: (the gRPC health service's path; a socket controller answers it with a ``Health``).
CATALOG_METHOD = "/daffi.v1.Controller/GetCatalog"
HEALTH_METHOD = "/grpc.health.v1.Health/Check"
#: What the controller sees now (``Inspection``): for ``daffi-controller inspect``.
INSPECT_METHOD = "/daffi.v1.Controller/Inspect"

Kind = pb.Message.Kind
DOWNSTREAM = frozenset({pb.Message.CALL, pb.Message.ITEM, pb.Message.END, pb.Message.CANCEL, pb.Message.ACK_YIELDS})
UPSTREAM = frozenset({pb.Message.REPLY, pb.Message.YIELD, pb.Message.ACK_ITEMS})
