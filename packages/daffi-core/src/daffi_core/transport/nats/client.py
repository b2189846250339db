"""nats-py, imported only where the NATS transport is used (extra ``daffi-node[nats]``)."""

from __future__ import annotations

from types import ModuleType

from daffi_core.errors import InitializationError

__all__ = ["INSTALL_HINT", "import_nats"]

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
