"""Shared pieces of daffi: the wire schema, addresses, channel options, errors, signatures."""

from daffi_core.__about__ import __version__

__all__ = ["__version__"]
