"""The daffi controller: routes calls between nodes; payloads stay opaque bytes.

``daffi_controller.server.ControllerServer`` runs one on an asyncio loop; the
``daffi-controller`` command runs one as a process.
"""

from daffi_controller.__about__ import __version__

__all__ = ["__version__"]
