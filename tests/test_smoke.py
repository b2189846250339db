from __future__ import annotations

from daffi import FG, Global

from tests.support.procs import Procs, Where


def test_call_and_result(procs: Procs, controller: Where) -> None:
    procs.service(controller, "svc")
    with Global(process_name="caller", **controller.kwargs) as g:
        assert g.call.add(2, 3) & FG == 5
        assert g.call.whoami() & FG == "svc"
