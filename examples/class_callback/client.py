"""Calls the methods of the Inventory class registered in service.py.

python client.py [--port 8888]
"""

import argparse
import logging
import os
import sys
from pathlib import Path

from daffi import FG, DaffiError, Global

sys.path.insert(0, str(Path(__file__).resolve().parents[2]))  # the repository root: examples/ and stubs/

from examples.connection import parse_args  # noqa: E402

# Typed fetchers generated from the running services (`hatch run stubs`).
from stubs.inventory_service import add_items, inventory_kind, inventory_version, stock_report  # noqa: E402

logging.basicConfig(level=logging.INFO)


if __name__ == "__main__":
    args, connection = parse_args(argparse.ArgumentParser(description=__doc__))

    with Global(process_name="inventory-client", **connection) as g:
        g.wait_process("inventory-service", timeout=30)

        print(f"apples: {add_items('apples', 3)}", flush=True)
        print(f"apples: {add_items('apples', count=4)}", flush=True)
        print(f"pears: {add_items('pears', 2)}", flush=True)
        print(f"report: {stock_report()}", flush=True)
        print(f"version: {inventory_version()}", flush=True)
        print(f"kind: {inventory_kind()}", flush=True)
        try:
            g.call.no_such_method() & FG
        except DaffiError as exc:
            print(f"unknown method: {type(exc).__name__}", flush=True)
