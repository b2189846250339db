"""Where a controller listens: a TCP host and port, or a UNIX socket path."""

from __future__ import annotations

import os
import sys
import tempfile
from dataclasses import dataclass
from pathlib import Path

from daffi_core.errors import InitializationError

__all__ = ["MAX_UNIX_PATH_BYTES", "Address", "check_unix_path_length", "default_unix_socket_path"]

#: The longest UNIX socket path the system takes, in bytes: ``sizeof(sockaddr_un.sun_path)`` less
#: its terminating NUL, 107 on Linux (and Windows), 103 on macOS and the BSDs.
MAX_UNIX_PATH_BYTES = 103 if sys.platform == "darwin" or "bsd" in sys.platform else 107


def default_unix_socket_path() -> Path:
    """``<tempdir>/daffi/.sock``: the default of Global, daffi-controller and daffi-codegen."""
    return Path(tempfile.gettempdir()) / "daffi" / ".sock"


@dataclass(frozen=True)
class Address:
    """A controller address. Exactly one of (host, port) and unix_path is set."""

    host: str | None = None
    port: int | None = None
    unix_path: Path | None = None

    @classmethod
    def resolve(
        cls,
        host: str | None,
        port: int | None,
        unix_sock_path: str | os.PathLike[str] | None,
        *,
        listen: bool = False,
    ) -> Address:
        """Build an address from user arguments; neither host nor port means the default socket.

        ``listen``: the address is one to listen on, where port 0 means a free one.
        """
        if unix_sock_path is not None and (host is not None or port is not None):
            raise InitializationError("give either host/port or unix_sock_path, not both")
        if host is None and port is None:
            path = Path(unix_sock_path) if unix_sock_path is not None else default_unix_socket_path()
            path = path.expanduser().absolute()
            check_unix_path_length(path, default=unix_sock_path is None)
            return cls(unix_path=path)
        if port is None:
            raise InitializationError(f"host {host!r} was given without a port: pass port=...")
        lowest = 0 if listen else 1
        if not isinstance(port, int) or isinstance(port, bool) or not lowest <= port < 65536:
            raise InitializationError(f"port must be an integer from {lowest} to 65535, not {port!r}")
        return cls(host=host or "localhost", port=port)

    @property
    def is_unix(self) -> bool:
        return self.unix_path is not None

    @property
    def target(self) -> str:
        """The gRPC target or bind string; the host is used exactly as given (never widened)."""
        if self.unix_path is not None:
            return f"unix:{self.unix_path}"
        host = self.host or "localhost"
        if ":" in host and not host.startswith("["):
            host = f"[{host}]"
        return f"{host}:{self.port}"

    def __str__(self) -> str:
        return str(self.unix_path) if self.unix_path is not None else self.target

    def prepare_unix_dir(self) -> None:
        """Create a missing socket directory, owner-only."""
        if self.unix_path is not None and not self.unix_path.parent.exists():
            self.unix_path.parent.mkdir(mode=0o700, parents=True, exist_ok=True)


def check_unix_path_length(path: Path, default: bool = False) -> None:
    """Refuse a socket path longer than the system takes (binding or connecting would fail later
    with an unhelpful reason); ``default``: the path is ``<tempdir>/daffi/.sock``."""
    size = len(os.fsencode(path))
    if size <= MAX_UNIX_PATH_BYTES:
        return
    if default:
        fix = (
            f"the default path is <tempdir>/daffi/.sock and the temporary folder {tempfile.gettempdir()} is long: "
            "set a shorter $TMPDIR (e.g. TMPDIR=/tmp) or pass a shorter unix_sock_path (--unix-sock-path)"
        )
    else:
        fix = "pass a shorter unix_sock_path (--unix-sock-path), e.g. in /tmp"
    raise InitializationError(
        f"the UNIX socket path {path} is {size} bytes long, over the system's limit of "
        f"{MAX_UNIX_PATH_BYTES} bytes for a socket path: {fix}"
    )
