"""The exceptions of daffi. ``daffi`` re-exports them; the controller uses them too."""

from __future__ import annotations

import builtins


class DaffiError(Exception):
    """Base class of every error daffi raises."""


class InitializationError(DaffiError):
    """daffi cannot start as configured (bad arguments, a busy address, a missing package)."""


class GlobalContextError(DaffiError):
    """Bad use of a call: unknown callback, arguments that do not fit, bad modifier."""


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


__all__ = [
    "DaffiError",
    "GlobalContextError",
    "InitializationError",
    "RemoteCallError",
    "RemoteStoppedUnexpectedly",
    "TimeoutError",
]
