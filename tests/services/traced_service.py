"""A traced node (OpenTelemetry SDK) whose spans are written to a file, one JSON object per line.

Run: python traced_service.py --name NAME (address options) --role {a,b,c} --spans FILE [--metrics]

- role ``a``: ``start(x)`` calls ``hop(x)``; ``fan(n)`` BROADCASTs ``ping()`` and STREAMs ``n`` items to ``sink``
- role ``b``: ``hop(x)`` calls ``leaf(x)``; ``ping()``; ``sink(item)``
- role ``c``: ``leaf(x)`` returns ``x + 1``; ``ping()``; ``boom()`` raises

``--metrics`` serves the node's metrics on a free port and prints ``METRICS <port>``.
"""

from __future__ import annotations

import json
from typing import IO, Any

from daffi import BROADCAST, FG, STREAM, Global, callback
from node_main import options
from opentelemetry import trace
from opentelemetry.sdk.trace import ReadableSpan, TracerProvider
from opentelemetry.sdk.trace.export import ConsoleSpanExporter, SimpleSpanProcessor

parser = options(__doc__)
parser.add_argument("--role", choices=["a", "b", "c"], required=True)
parser.add_argument("--spans", required=True)
parser.add_argument("--metrics", action="store_true")
args = parser.parse_args()


def _line(span: ReadableSpan) -> str:
    parent = span.parent
    return (
        json.dumps(
            {
                "name": span.name,
                "kind": span.kind.name,
                "trace": f"{span.context.trace_id:032x}",
                "span": f"{span.context.span_id:016x}",
                "parent": f"{parent.span_id:016x}" if parent is not None else None,
                "attributes": dict(span.attributes or {}),
                "status": span.status.status_code.name,
            }
        )
        + "\n"
    )


out: IO[str] = open(args.spans, "a", buffering=1)  # noqa: SIM115  # written until the process ends
provider = TracerProvider()
provider.add_span_processor(SimpleSpanProcessor(ConsoleSpanExporter(out=out, formatter=_line)))
trace.set_tracer_provider(provider)

if args.role == "a":

    @callback
    def start(x: int, g: Global) -> Any:
        return g.call.hop(x) & FG

    @callback
    def fan(n: int, g: Global) -> Any:
        pongs = g.call.ping() & BROADCAST
        g.call.sink(range(n)) & STREAM
        return sorted(pongs)

elif args.role == "b":

    @callback
    def hop(x: int, g: Global) -> Any:
        return g.call.leaf(x) & FG

    @callback
    def sink(item: int) -> None:
        pass

else:

    @callback
    def leaf(x: int) -> int:
        return x + 1

    @callback
    def boom() -> None:
        raise ValueError("boom")


if args.role != "a":

    @callback
    def ping(g: Global) -> str:
        return g.process_name


where = {"unix_sock_path": args.unix_sock_path} if args.unix_sock_path else {"host": args.host, "port": args.port}
g = Global(process_name=args.name, metrics_port=0 if args.metrics else None, **where)
if args.metrics:
    print(f"METRICS {g.metrics_port}", flush=True)
print(f"READY {args.name}", flush=True)
g.join()
