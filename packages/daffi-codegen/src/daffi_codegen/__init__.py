"""daffi-codegen: typed fetcher stubs from the callbacks running daffi nodes announce."""

from daffi_codegen.__about__ import __version__

__all__ = ["__version__"]
