"""A class registered with @callback: its public methods become remote callbacks.

python service.py [--port 8888]
"""

import argparse
import logging
import os
import sys
import threading
from pathlib import Path

from daffi import Global, InitializationError, callback

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: examples/ and stubs/

from examples.connection import parse_args  # noqa: E402

logging.basicConfig(level=logging.INFO)


@callback
class Inventory:
    def __init__(self, owner: str) -> None:
        self.owner = owner
        self._items: dict[str, int] = {}
        self._lock = threading.Lock()

    def add_items(self, name: str, count: int) -> int:
        """Instance method: needs the one instance created below."""
        with self._lock:
            self._items[name] = self._items.get(name, 0) + count
            return self._items[name]

    def stock_report(self) -> str:
        with self._lock:
            items = ", ".join(f"{name}={count}" for name, count in sorted(self._items.items()))
        return f"{self.owner}: {items}"

    @staticmethod
    def inventory_version() -> str:
        return "inventory 1.0"

    @classmethod
    def inventory_kind(cls) -> str:
        return f"class {cls.__name__}"

    def _audit(self) -> None:
        """Private: not registered."""


if __name__ == "__main__":
    args, connection = parse_args(argparse.ArgumentParser(description=__doc__))

    Inventory(owner="warehouse")  # the instance whose methods serve remote calls
    try:
        Inventory(owner="second")
    except InitializationError as exc:
        print(f"service: second instance refused ({type(exc).__name__})", flush=True)

    g = Global(process_name="inventory-service", **connection)
    print("service: ready", flush=True)
    g.join()
