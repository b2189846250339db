"""Spans of calls made and served, with W3C trace context in each call's header (OpenTelemetry).

Imported only where ``opentelemetry-api`` is installed (extra ``daffi-node[otel]``). The caller
opens a CLIENT span ``daffi.call <callback>`` and sends its context in ``CallHead.traceparent``
/ ``tracestate``; the callee opens a SERVER span ``daffi.serve <callback>`` as its child and makes
it current while the callback runs, so calls the callback makes continue the trace. Without a
configured tracer provider the API's spans record nothing; a caller's own current span still
travels on, so a trace started elsewhere is not broken here.
"""

from __future__ import annotations

import functools
import inspect
from typing import cast

from daffi_core.proto import daffi_pb2 as pb
from daffi_core.stats import DEFAULT_MODIFIER, OK
from opentelemetry import context, trace
from opentelemetry.trace import Span, SpanKind, Status, StatusCode
from opentelemetry.trace.propagation.tracecontext import TraceContextTextMapPropagator

from daffi.__about__ import __version__
from daffi._observe import Ended, Job, Served

__all__ = ["Tracing"]

_PROPAGATOR = TraceContextTextMapPropagator()


class Tracing:
    """An ``Observer`` that opens a span per call made and served by ``process_name``."""

    def __init__(self, process_name: str) -> None:
        self._process = process_name
        # A proxy while no provider is set: spans go to whichever provider is set later.
        self._tracer = trace.get_tracer("daffi", __version__)

    def calling(self, head: pb.CallHead) -> Ended:
        span = self._tracer.start_span(
            f"daffi.call {head.name}",
            kind=SpanKind.CLIENT,
            attributes={**_attributes(head), "daffi.caller": self._process},
        )
        if span.get_span_context().is_valid:
            carrier: dict[str, str] = {}
            _PROPAGATOR.inject(carrier, context=trace.set_span_in_context(span))
            head.traceparent = carrier.get("traceparent", "")
            if "tracestate" in carrier:
                head.tracestate = carrier["tracestate"]
        return functools.partial(_end, span)

    def serving(self, head: pb.CallHead, caller: str) -> Served:
        parent = None
        if head.traceparent:
            carrier = {"traceparent": head.traceparent}
            if head.tracestate:
                carrier["tracestate"] = head.tracestate
            parent = _PROPAGATOR.extract(carrier)
        span = self._tracer.start_span(
            f"daffi.serve {head.name}",
            context=parent,
            kind=SpanKind.SERVER,
            attributes={**_attributes(head), "daffi.caller": caller, "daffi.callee": self._process},
        )
        return _Serving(span, trace.set_span_in_context(span, parent))


class _Serving:
    __slots__ = ("_context", "_span")

    def __init__(self, span: Span, scope: context.Context) -> None:
        self._span = span
        self._context = scope

    def scoped(self, job: Job) -> Job:
        scope = self._context
        if inspect.iscoroutinefunction(job):

            async def in_scope_async(*args: object, **kwargs: object) -> object:
                token = context.attach(scope)
                try:
                    return await job(*args, **kwargs)
                finally:
                    context.detach(token)

            return cast(Job, in_scope_async)

        def in_scope(*args: object, **kwargs: object) -> object:
            token = context.attach(scope)
            try:
                return job(*args, **kwargs)
            finally:
                context.detach(token)

        return cast(Job, in_scope)

    def done(self, outcome: str) -> None:
        _end(self._span, outcome)


def _attributes(head: pb.CallHead) -> dict[str, str]:
    return {"rpc.system": "daffi", "rpc.method": head.name, "daffi.modifier": head.modifier or DEFAULT_MODIFIER}


def _end(span: Span, outcome: str) -> None:
    span.set_attribute("daffi.outcome", outcome)
    if outcome != OK:
        span.set_status(Status(StatusCode.ERROR, f"the call ended: {outcome}"))
    span.end()
