"""A node written the daffi 1.x way (module paths, decorator factories, ``g`` injected locally).

Run: python v1_node.py --name NAME (--host H --port P | --unix-sock-path S); prints ``NO-G <error>``
(a local call before any Global runs), then ``READY <name>``.
"""

from __future__ import annotations

from typing import Any

from daffi.decorators import callback, callback_and_fetcher
from daffi.exceptions import InitializationError
from daffi.execution_modifiers import FG
from daffi.globals import Global
from node_main import options, serve

args = options(__doc__).parse_args()
NAME: str = args.name
FLAKY: dict[str, int] = {}


# Registered in this order on purpose: error messages list a node's callbacks as registered.
@callback
def zeta_first() -> str:
    return "z"


@callback
def alpha_second() -> str:
    return "a"


@callback_and_fetcher(FG)
def whoami_v1() -> str:
    """Called here, it runs on another node."""
    return NAME


@callback
def ask_peer() -> tuple[str, str]:
    """(this node, the node whose ``whoami_v1`` answered)."""
    return NAME, whoami_v1()


@callback
def where_am_i(g: Global) -> str:
    return g.process_name


@callback
def local_g() -> str:
    """A local call of a callback taking ``g``: the running Global is passed."""
    return where_am_i()  # type: ignore[call-arg]  # called here, it is given the running Global as g


@callback
def flaky(key: str, failures: int) -> str:
    """Raises ``ValueError("flaky ...")`` for the first ``failures`` calls with ``key``."""
    FLAKY[key] = FLAKY.get(key, 0) + 1
    if FLAKY[key] <= failures:
        raise ValueError(f"flaky {key} call {FLAKY[key]}")
    return f"ok after {FLAKY[key]}"


@callback_and_fetcher
class Greeter:
    """A callback class that is its own fetcher: ``Greeter.greet(...) & FG`` runs another node's."""

    @staticmethod
    def greet(who: str) -> str:
        return f"{NAME} greets {who}"


@callback
def greet_via_peer(who: str) -> Any:
    return Greeter.greet(who) & FG


try:
    where_am_i()  # type: ignore[call-arg]  # no Global runs yet: refused
except InitializationError as exc:
    print(f"NO-G {exc}", flush=True)

if __name__ == "__main__":
    serve(args)
