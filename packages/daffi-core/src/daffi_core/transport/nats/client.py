"""nats-py, imported only where the NATS transport is used (extra ``daffi-node[nats]``), and the
options every daffi client of a NATS server (node or tool) connects with."""

from __future__ import annotations

from types import ModuleType
from typing import Any

from daffi_core.address import Address
from daffi_core.errors import InitializationError
from daffi_core.security import ClientSecurity

__all__ = ["INSTALL_HINT", "import_nats", "is_refusal", "security_options"]

INSTALL_HINT = "pip install daffi-node[nats]"


def import_nats() -> ModuleType:
    """The ``nats`` module (nats-py); InitializationError naming the extra when it is missing."""
    try:
        import nats
    except ImportError:
        raise InitializationError(
            f"transport='nats' needs the NATS client nats-py: {INSTALL_HINT} (or pip install nats-py)"
        ) from None
    return nats


def security_options(address: Address, security: ClientSecurity) -> dict[str, Any]:
    """``nats.NATS.connect`` keywords for daffi's token and TLS: the token is the server's auth
    token; TLS is set up as on the socket transport (the server's name is checked)."""
    tls = security.tls
    return {
        "token": security.token or None,
        "tls": tls.ssl_context() if tls is not None else None,
        "tls_hostname": address.host if tls is not None else None,
    }


def is_refusal(exc: BaseException) -> bool:
    """``exc`` (from nats-py) is the server refusing the credentials: retrying cannot help."""
    text = str(exc).lower()
    return "authorization" in text or "authentication" in text
