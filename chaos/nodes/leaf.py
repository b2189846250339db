"""The lightest node: offers ``bump`` and serves until killed (``python -m chaos.nodes.leaf ADDR NAME``)."""

from __future__ import annotations

import sys

from daffi import Global, callback

from chaos.nodes.common import connection


@callback
def bump(x: int) -> int:
    return x + 1


def main() -> None:
    addr, name = sys.argv[1], sys.argv[2]
    g = Global(process_name=name, **connection(addr))
    print("READY", flush=True)
    g.join()


if __name__ == "__main__":
    main()
