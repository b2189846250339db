"""The token check: every call but health checks must carry the controller's token."""

from __future__ import annotations

import hmac
import logging
from collections.abc import Awaitable, Callable
from typing import Any

import grpc
from daffi_core.security import TOKEN_METADATA

log = logging.getLogger("daffi.controller")
_OPEN = "/grpc.health.v1.Health/"
_REFUSAL = "missing or wrong daffi token: pass token=... (Global) or --token-file, or set DAFFI_TOKEN"


class TokenCheck(grpc.aio.ServerInterceptor):
    """Refuses calls without the right token, before any handler runs (constant-time comparison)."""

    def __init__(self, token: str) -> None:
        self._token = token.encode()

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler[Any, Any] | None]],
        details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler[Any, Any] | None:
        if details.method.startswith(_OPEN):
            return await continuation(details)
        given = ""
        for key, value in details.invocation_metadata or ():
            if key == TOKEN_METADATA and isinstance(value, str):
                given = value
        if hmac.compare_digest(given.encode(), self._token):
            return await continuation(details)
        log.warning(
            "refused a %s call: %s", details.method.rsplit("/", 1)[-1], "missing token" if not given else "wrong token"
        )
        return _refusal(details.method)


def _refusal(method: str) -> grpc.RpcMethodHandler[Any, Any]:
    async def deny(request: Any, context: grpc.aio.ServicerContext[Any, Any]) -> None:
        await context.abort(grpc.StatusCode.UNAUTHENTICATED, _REFUSAL)

    if method.endswith("/Connect"):
        return grpc.stream_stream_rpc_method_handler(deny)
    return grpc.unary_unary_rpc_method_handler(deny)
