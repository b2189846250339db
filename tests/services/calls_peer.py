"""A node whose ``get_process_name`` is both a callback and a fetcher. Prints ``READY <name>``.

``ask_peer()`` calls ``get_process_name`` through the fetcher: it must reach the other node's copy.

Run: python calls_peer.py --name NAME (--host H --port P | --unix-sock-path S)
"""

from __future__ import annotations

from daffi import FG, callback, callback_and_fetcher
from node_main import options, serve

parser = options(__doc__)
args = parser.parse_args()
NAME: str = args.name


@callback_and_fetcher
def get_process_name() -> str:
    return NAME


@callback
def ask_peer() -> str:
    """The value of another node's ``get_process_name`` (never this node's own copy)."""
    value: str = get_process_name() & FG
    return value


if __name__ == "__main__":
    serve(args)
