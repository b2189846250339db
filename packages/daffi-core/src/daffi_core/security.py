"""Who may talk to a controller: a shared token, TLS, mutual TLS.

The token travels as gRPC metadata on every call and is compared in constant time;
it is never logged. TLS applies to TCP; a UNIX socket is protected by its file mode.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import grpc

from daffi_core.errors import InitializationError

#: Metadata key carrying the token.
TOKEN_METADATA = "x-daffi-token"
#: Environment variable read when no token is given explicitly.
TOKEN_ENV = "DAFFI_TOKEN"


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


def _read(path: str | os.PathLike[str] | None, what: str) -> bytes | None:
    if path is None:
        return None
    try:
        return Path(path).read_bytes()
    except OSError as exc:
        raise InitializationError(f"{what}: cannot read {path} ({exc.strerror})") from exc


@dataclass(frozen=True)
class ServerTLS:
    """The controller's certificate and key; with ``client_ca`` it can require client certificates."""

    certificate: str | os.PathLike[str]
    key: str | os.PathLike[str]
    client_ca: str | os.PathLike[str] | None = None
    require_client_certificate: bool = False

    def credentials(self) -> grpc.ServerCredentials:
        if self.require_client_certificate and self.client_ca is None:
            raise InitializationError("requiring client certificates needs the CA that signs them (ssl_ca)")
        cert = _read(self.certificate, "ssl_certificate")
        key = _read(self.key, "ssl_key")
        assert cert is not None and key is not None
        return grpc.ssl_server_credentials(
            [(key, cert)],
            root_certificates=_read(self.client_ca, "ssl_ca"),
            require_client_auth=self.require_client_certificate,
        )


@dataclass(frozen=True)
class ClientTLS:
    """What a node or tool trusts (``ca``), and its own certificate for mutual TLS."""

    ca: str | os.PathLike[str] | None = None
    certificate: str | os.PathLike[str] | None = None
    key: str | os.PathLike[str] | None = None

    def credentials(self) -> grpc.ChannelCredentials:
        if (self.certificate is None) != (self.key is None):
            raise InitializationError("a client certificate needs its key and the key its certificate")
        return grpc.ssl_channel_credentials(
            root_certificates=_read(self.ca, "ssl_ca"),
            private_key=_read(self.key, "ssl_key"),
            certificate_chain=_read(self.certificate, "ssl_certificate"),
        )


@dataclass(frozen=True)
class ClientSecurity:
    """How a node or tool connects: the token it presents and the TLS it speaks (None: plaintext)."""

    token: str | None = None
    tls: ClientTLS | None = None

    @property
    def metadata(self) -> tuple[tuple[str, str], ...]:
        return ((TOKEN_METADATA, self.token),) if self.token else ()

    def channel(self, target: str, options: list[tuple[str, int]]) -> grpc.aio.Channel:
        if self.tls is not None:
            return grpc.aio.secure_channel(target, self.tls.credentials(), options=options)
        return grpc.aio.insecure_channel(target, options=options)


__all__ = ["TOKEN_ENV", "TOKEN_METADATA", "ClientSecurity", "ClientTLS", "ServerTLS", "resolve_token"]
