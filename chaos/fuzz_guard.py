"""What the fuzz target watches besides the controller's state: unpickling, and what is logged.

Imported before the controller (chaos/fuzz_target.py), so that even a ``from pickle import loads`` in
it would get the tripwire: every ``pickle`` loader raises :class:`Unpickled` (and is remembered in
:data:`UNPICKLED`), and importing ``dill`` fails. :data:`ERRORS` keeps what is logged at ERROR and
every log line that holds one of the target's tokens.
"""

from __future__ import annotations

import importlib.abc
import logging
import pickle
import sys
from typing import Any

#: The token of a controller that has one (socket connections), and a wrong one of the same length: neither
#: may appear in what the controller logs or writes (unless the input itself spells it out).
TOKEN = "fuzz-token-5c2e9a71d04b36f8"
WRONG_TOKEN = "fuzz-token-WRONG-71d04b36f8"
SECRETS = (TOKEN, WRONG_TOKEN)
#: A payload that calls ``chaos.fuzz_target._tripwire`` if anyone ever loads it (GLOBAL, EMPTY_TUPLE,
#: REDUCE); the seed corpus carries these bytes, so the name stays the one it was written with.
TRIPWIRE = b"\x80\x02cchaos.fuzz_target\n_tripwire\n)R."
UNPICKLED: list[str] = []


class Unpickled(BaseException):
    """Raised (and remembered) when anything in the process tries to unpickle."""


def tripwire(*args: object, **kwargs: object) -> Any:
    UNPICKLED.append("a payload was unpickled")
    raise Unpickled("the controller unpickled a payload")


class _NoDill(importlib.abc.MetaPathFinder):
    def find_spec(self, name: str, path: object = None, target: object = None) -> None:
        if name == "dill" or name.startswith("dill."):
            UNPICKLED.append(f"{name} was imported")
            raise ImportError("the controller must not import dill")
        return None


pickle.loads = tripwire
pickle.load = tripwire
pickle.Unpickler = type("TrippingUnpickler", (), {"__init__": tripwire})  # type: ignore[misc,assignment]
sys.meta_path.insert(0, _NoDill())


class _ErrorLog(logging.Handler):
    """Remembers what is logged at ERROR, and any line that holds a token."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.records: list[str] = []
        self.leaks: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        text = f"{record.name}: {record.getMessage()}"
        if record.levelno >= logging.ERROR:
            self.records.append(text)
        if any(secret in text for secret in SECRETS):
            self.leaks.append(text)


ERRORS = _ErrorLog()
logging.getLogger().addHandler(ERRORS)
# Every line the controller and its transports log is read for tokens (warnings are expected here: refusals,
# ignored frames); only ERROR is a failure. No handler prints them.
logging.getLogger("daffi").setLevel(logging.DEBUG)
