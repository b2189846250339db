"""The exceptions of daffi. ``daffi`` re-exports the public ones; the controller uses them too.

```text
DaffiError
 ├── InitializationError        daffi cannot start as configured
 ├── GlobalContextError         bad use of a call
 │    ├── SignatureMismatch      a stub no longer fits the callee's signature (regenerate it)
 │    └── UnableToFindCandidate  no other node offers the callback (defined in daffi)
 ├── PendingCallsLimitExceeded  Global(max_pending_calls=N) calls are open already
 ├── RemoteCallError            the remote callback raised
 ├── TimeoutError               (also a builtins.TimeoutError)
 ├── RemoteStoppedUnexpectedly  the node or the controller went away during the call
 └── TransportError             a connection cannot carry frames (inside transports; callers
      │                         see RemoteStoppedUnexpectedly or InitializationError instead)
      ├── ConnectionRefused     the other side refused: token, TLS, protocol or transport mismatch
      └── ProtocolViolation     bytes that are not the transport's protocol
           └── FrameTooLarge    a frame over the transport's limit
```
"""

from __future__ import annotations

import builtins

__all__ = [
    "ConnectionRefused",
    "DaffiError",
    "FrameTooLarge",
    "GlobalContextError",
    "InitializationError",
    "PendingCallsLimitExceeded",
    "ProtocolViolation",
    "RemoteCallError",
    "RemoteStoppedUnexpectedly",
    "SignatureMismatch",
    "TimeoutError",
    "TransportError",
]


class DaffiError(Exception):
    """Base class of every error daffi raises."""


class InitializationError(DaffiError):
    """daffi cannot start as configured (bad arguments, a busy address, a missing package)."""


class GlobalContextError(DaffiError):
    """Bad use of a call: unknown callback, arguments that do not fit, bad modifier."""


class SignatureMismatch(GlobalContextError):
    """A call through a generated stub whose signature the callee changed incompatibly since.

    Raised before the callback runs; the message shows both signatures and the regenerate command.
    """


class PendingCallsLimitExceeded(DaffiError):
    """The call would exceed ``Global(max_pending_calls=N)`` open calls: it was not sent."""


class RemoteCallError(DaffiError):
    """The remote callback raised; carries the remote type name, message and traceback text."""

    def __init__(self, type_name: str, message: str, traceback: str = "", process_name: str = "") -> None:
        self.type_name = type_name
        self.remote_message = message
        self.remote_traceback = traceback
        self.process_name = process_name
        where = f" on {process_name!r}" if process_name else ""
        text = f"{type_name}: {message} (raised{where})"
        if traceback:
            text += f"\n\nRemote traceback:\n{traceback.rstrip()}"
        super().__init__(text)

    def __reduce__(self) -> tuple[type[RemoteCallError], tuple[str, str, str, str]]:
        return type(self), (self.type_name, self.remote_message, self.remote_traceback, self.process_name)


class TimeoutError(DaffiError, builtins.TimeoutError):
    """A wait or a call did not finish within its timeout."""


class RemoteStoppedUnexpectedly(DaffiError):
    """The node or the controller went away during the call."""


class TransportError(DaffiError):
    """A connection broke or cannot be made; ``code`` is the gRPC status code value when one was given."""

    def __init__(self, message: str, code: int = 14) -> None:  # 14: UNAVAILABLE
        super().__init__(message)
        self.code = code


class ConnectionRefused(TransportError):
    """The other side refused this connection (token, TLS, protocol, transport): retrying does not help."""


class ProtocolViolation(TransportError):
    """What arrived is not the transport's protocol (random bytes, another protocol, a bad length)."""

    def __init__(self, message: str, code: int = 3) -> None:  # 3: INVALID_ARGUMENT
        super().__init__(message, code)


class FrameTooLarge(ProtocolViolation):
    """A frame announced more bytes than the transport's limit allows."""

    def __init__(self, size: int, limit: int) -> None:
        super().__init__(f"a frame of {size:,} bytes exceeds the limit of {limit:,} bytes", 8)  # RESOURCE_EXHAUSTED
        self.size = size
        self.limit = limit
