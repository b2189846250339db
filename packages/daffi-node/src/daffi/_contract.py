"""The signature a generated stub was made from, at run time: what a call through it carries
(``Contract``, the caller's side) and the callee's verdict on it (``ContractCheck``).

The rules are ``daffi_core.contract``'s, the ones ``daffi-codegen --check`` applies.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass

from daffi_core import contract
from daffi_core.errors import InitializationError
from daffi_core.proto import daffi_pb2 as pb
from daffi_core.signature import render

__all__ = ["Contract", "ContractCheck", "regenerate_command"]

log = logging.getLogger("daffi.node")


@dataclass(frozen=True)
class Contract:
    """``fingerprint`` travels with every call; ``signature`` only when a callee's differs."""

    fingerprint: str
    signature: pb.CallbackSignature

    @classmethod
    def parse(cls, text: str, module: str) -> Contract:
        """The contract of ``@daffi.remote(contract=text)`` in stub module ``module``."""
        try:
            sig = contract.decode(text)
        except ValueError as exc:
            raise InitializationError(
                f"stub module {module!r}: {exc}; regenerate the stubs (daffi-codegen --out ...)"
            ) from None
        sig.module = module  # tells the callee which stubs to regenerate
        return cls(contract.fingerprint(sig), sig)


def regenerate_command(module: str) -> str:
    """The command that regenerates the stub package ``module`` belongs to."""
    package = module.rpartition(".")[0] or module or "STUBS_DIR"
    return f"daffi-codegen --out {package.replace('.', '/')} (with the controller's address options)"


class ContractCheck:
    """The callee's side: may a call through a stub with another fingerprint run?

    A verdict is reached once per (callback, stub fingerprint, current fingerprint): a compatible
    stub is logged then, and its later calls cost a dictionary lookup.
    """

    def __init__(self, process_name: str) -> None:
        self._process_name = process_name
        self._verdicts: dict[tuple[str, str, str], pb.Error | None] = {}
        self._lock = threading.Lock()

    def refusal(self, head: pb.CallHead, current: pb.CallbackSignature, fingerprint: str) -> pb.Error | None:
        """The error to answer the call with, or None to run it (``head.fingerprint`` differs)."""
        key = (head.name, head.fingerprint, fingerprint)
        with self._lock:
            if key in self._verdicts:
                return self._verdicts[key]
        if not head.HasField("expected"):
            # The caller's view of this node predates its current signature: without the stub's
            # signature there is nothing to compare, and the call must not run on a guess.
            return self._mismatch(head, current, None, [])
        where = f"{self._process_name}.{head.name}"
        changes = contract.compare(where, contract.entry(head.expected), contract.entry(current))
        breaking = [c for c in changes if c.breaking]
        verdict = self._mismatch(head, current, head.expected, breaking) if breaking else None
        with self._lock:
            first = key not in self._verdicts
            self._verdicts[key] = verdict
        if first and verdict is None:
            log.warning(
                "callback %r is called through a stub made from an older, compatible signature (%s); "
                "regenerate the stubs: %s",
                head.name,
                "; ".join(c.what for c in changes) or "no change callers see",
                regenerate_command(head.expected.module),
            )
        return verdict

    def _mismatch(
        self,
        head: pb.CallHead,
        current: pb.CallbackSignature,
        expected: pb.CallbackSignature | None,
        breaking: list[contract.Change],
    ) -> pb.Error:
        stub = render(expected) if expected is not None else f"(not sent; fingerprint {head.fingerprint})"
        lines = [
            f"call to {head.name!r} refused by node {self._process_name!r} before it ran: the caller's stub "
            "was generated from a signature that the callback no longer has",
            f"  stub:   {stub}",
            f"  callee: {render(current)}",
            *(f"  {c.what}" for c in breaking),
            "regenerate the stubs from the running nodes: "
            + regenerate_command(expected.module if expected is not None else ""),
        ]
        return pb.Error(kind=pb.Error.SIGNATURE_MISMATCH, type_name="SignatureMismatch", message="\n".join(lines))
