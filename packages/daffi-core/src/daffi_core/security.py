"""Who may talk to a controller: a shared token, TLS, mutual TLS (the same options on every transport).

The token is presented on every connection (gRPC metadata, or the socket transport's ``Open``
frame), compared in constant time and never logged. TLS applies to TCP; a UNIX socket is
protected by its file mode. ``ssl_context()`` builds what the socket transport speaks; the gRPC
credentials for the same settings come from ``daffi_core.transport.grpc``.
"""

from __future__ import annotations

import os
import ssl
from dataclasses import dataclass
from pathlib import Path

from daffi_core.errors import InitializationError

__all__ = [
    "ALPN",
    "TOKEN_ENV",
    "TOKEN_METADATA",
    "TOKEN_REFUSAL",
    "ClientSecurity",
    "ClientTLS",
    "ServerTLS",
    "read_pem",
    "resolve_token",
]

#: gRPC metadata key carrying the token.
TOKEN_METADATA = "x-daffi-token"
#: Environment variable read when no token is given explicitly.
TOKEN_ENV = "DAFFI_TOKEN"
#: The TLS application protocol (ALPN) of the socket transport.
ALPN = "daffi/1"
#: What a controller answers a node or tool without the right token.
TOKEN_REFUSAL = "missing or wrong daffi token: pass token=... (Global) or --token-file, or set DAFFI_TOKEN"


def resolve_token(token: str | None = None, token_file: str | os.PathLike[str] | None = None) -> str | None:
    """The token to use: ``token``, else the first line of ``token_file``, else ``$DAFFI_TOKEN``, else None."""
    if token is not None and token_file is not None:
        raise InitializationError("give either a token or a token file, not both")
    if token_file is not None:
        try:
            token = Path(token_file).read_text().strip()
        except OSError as exc:
            raise InitializationError(f"cannot read the token file {token_file}: {exc.strerror}") from exc
        if not token:
            raise InitializationError(f"the token file {token_file} is empty")
    if token is None:
        token = os.environ.get(TOKEN_ENV) or None
    if token is not None and not token.strip():
        raise InitializationError("the token is empty")
    return token


def read_pem(path: str | os.PathLike[str] | None, what: str) -> bytes | None:
    """The bytes of a PEM file named by option ``what`` (None stays None)."""
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InitializationError(f"{what}: cannot read {path} ({exc.strerror})") from exc


def _ssl_failure(what: str, exc: BaseException) -> InitializationError:
    return InitializationError(f"{what}: {getattr(exc, 'reason', None) or exc}")


@dataclass(frozen=True)
class ServerTLS:
    """The controller's certificate and key; with ``client_ca`` it can require client certificates."""

    certificate: str | os.PathLike[str]
    key: str | os.PathLike[str]
    client_ca: str | os.PathLike[str] | None = None
    require_client_certificate: bool = False

    def check(self) -> None:
        if self.require_client_certificate and self.client_ca is None:
            raise InitializationError("requiring client certificates needs the CA that signs them (ssl_ca)")
        for path, what in ((self.certificate, "ssl_certificate"), (self.key, "ssl_key"), (self.client_ca, "ssl_ca")):
            read_pem(path, what)

    def ssl_context(self) -> ssl.SSLContext:
        """The server side of TLS for the socket transport."""
        self.check()
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        try:
            context.load_cert_chain(str(self.certificate), str(self.key))
            if self.client_ca is not None:
                context.load_verify_locations(cafile=str(self.client_ca))
                context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        except (ssl.SSLError, OSError) as exc:
            raise _ssl_failure("cannot load the controller's certificate", exc) from exc
        if self.client_ca is not None:
            context.verify_mode = ssl.CERT_REQUIRED if self.require_client_certificate else ssl.CERT_OPTIONAL
        context.set_alpn_protocols([ALPN])
        return context


@dataclass(frozen=True)
class ClientTLS:
    """What a node or tool trusts (``ca``, else the system's roots), and its own certificate for mutual TLS."""

    ca: str | os.PathLike[str] | None = None
    certificate: str | os.PathLike[str] | None = None
    key: str | os.PathLike[str] | None = None

    def check(self) -> None:
        if (self.certificate is None) != (self.key is None):
            raise InitializationError("a client certificate needs its key and the key its certificate")
        for path, what in ((self.ca, "ssl_ca"), (self.certificate, "ssl_certificate"), (self.key, "ssl_key")):
            read_pem(path, what)

    def ssl_context(self) -> ssl.SSLContext:
        """The client side of TLS for the socket transport (the server's name is checked)."""
        self.check()
        try:
            context = ssl.create_default_context(cafile=str(self.ca) if self.ca is not None else None)
            if self.certificate is not None and self.key is not None:
                context.load_cert_chain(str(self.certificate), str(self.key))
        except (ssl.SSLError, OSError) as exc:
            raise _ssl_failure("cannot load the TLS files", exc) from exc
        context.minimum_version = ssl.TLSVersion.TLSv1_2
        # A certificate in ``ca`` is trusted as it is, CA or not (as gRPC does): a process hosting its
        # controller trusts the controller's own certificate, which an authority issued.
        context.verify_flags |= ssl.VERIFY_X509_PARTIAL_CHAIN
        context.set_alpn_protocols([ALPN])  # what tells a socket-transport server from a gRPC one (h2)
        return context


@dataclass(frozen=True)
class ClientSecurity:
    """How a node or tool connects: the token it presents and the TLS it speaks (None: plaintext)."""

    token: str | None = None
    tls: ClientTLS | None = None

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        """The token as gRPC metadata."""
        return ((TOKEN_METADATA, self.token),) if self.token else ()
