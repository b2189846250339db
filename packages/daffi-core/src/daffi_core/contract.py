"""The contract of a callback: what callers written against its signature rely on.

One normalized form of a signature (``entry``), a short ``fingerprint`` of it, the rules that tell
a breaking change from a compatible one (``compare``), and the compact text a generated stub
carries (``encode``/``decode``). ``daffi-codegen --check`` and the callee's check of each call
through a stub apply the same rules.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Any

from daffi_core.proto import daffi_pb2 as pb

__all__ = ["Change", "Entry", "compare", "decode", "encode", "entry", "fingerprint", "stripped"]

Entry = dict[str, Any]
_KIND = pb.Parameter.Kind
_OPTIONAL_KINDS = ("VAR_POSITIONAL", "VAR_KEYWORD")


def entry(sig: pb.CallbackSignature) -> Entry:
    """The normalized signature: what the stubs' lock file holds and what ``compare`` reads."""

    def ann(has: bool, value: pb.Annotation) -> str | None:
        return value.text if has else None

    return {
        "parameters": [
            {
                "name": p.name,
                "kind": _KIND.Name(p.kind),
                "annotation": ann(p.HasField("annotation"), p.annotation),
                "default": p.default if p.has_default else None,
            }
            for p in sig.parameters
        ],
        "returns": ann(sig.HasField("returns"), sig.returns),
        "yields": ann(sig.HasField("yields"), sig.yields),
        "is_async": sig.is_async,
        "is_generator": sig.is_generator,
        "doc": sig.doc,
    }


def fingerprint(sig: pb.CallbackSignature) -> str:
    """16 hex digits naming the signature; equal for signatures that differ only in docs or origin."""
    normalized = entry(sig)
    del normalized["doc"]
    data = json.dumps([sig.name, normalized], sort_keys=True, separators=(",", ":")).encode()
    return hashlib.sha256(data).hexdigest()[:16]


@dataclass(frozen=True)
class Change:
    """One difference; ``breaking`` when callers written against the old signature may now fail."""

    breaking: bool
    where: str
    what: str

    def __str__(self) -> str:
        return f"{'BREAKING  ' if self.breaking else 'compatible'} {self.where}: {self.what}"


def compare(where: str, old: Entry, new: Entry) -> list[Change]:
    """Every change from ``old`` to ``new`` (both ``entry`` forms) of the callback at ``where``."""
    out: list[Change] = []
    old_params = {p["name"]: p for p in old["parameters"]}
    new_params = {p["name"]: p for p in new["parameters"]}
    for name in old_params.keys() - new_params.keys():
        out.append(Change(True, where, f"parameter {name!r} removed or renamed"))
    for name in sorted(new_params.keys() - old_params.keys()):
        p = new_params[name]
        optional = p["default"] is not None or p["kind"] in _OPTIONAL_KINDS
        out.append(Change(not optional, where, f"new {'optional' if optional else 'required'} parameter {name!r}"))
    common = [n for n in old_params if n in new_params]
    if common != [n for n in new_params if n in old_params]:
        out.append(Change(True, where, "parameters reordered"))
    for name in common:
        a, b = old_params[name], new_params[name]
        if a["kind"] != b["kind"]:
            out.append(Change(True, where, f"parameter {name!r} changed from {a['kind']} to {b['kind']}"))
        if a["annotation"] != b["annotation"]:
            out.append(Change(True, where, f"parameter {name!r} annotation {a['annotation']} -> {b['annotation']}"))
        if a["default"] is not None and b["default"] is None:
            out.append(Change(True, where, f"parameter {name!r} made required"))
        elif a["default"] is None and b["default"] is not None:
            out.append(Change(False, where, f"parameter {name!r} got a default"))
        elif a["default"] != b["default"]:
            out.append(Change(False, where, f"parameter {name!r} default {a['default']} -> {b['default']}"))
    for field in ("returns", "yields"):
        if old[field] != new[field]:
            out.append(Change(True, where, f"{field} annotation {old[field]} -> {new[field]}"))
    for flag in ("is_async", "is_generator"):
        if old[flag] != new[flag]:
            out.append(Change(True, where, f"{flag} changed to {new[flag]}"))
    if old["doc"] != new["doc"]:
        out.append(Change(False, where, "docstring changed"))
    return out


def stripped(sig: pb.CallbackSignature) -> pb.CallbackSignature:
    """``sig`` without what callers do not depend on (docs, where it is defined, ``g``)."""
    out = pb.CallbackSignature()
    out.CopyFrom(sig)
    for field in ("doc", "module", "qualname", "takes_g"):
        out.ClearField(field)
    annotations = [p.annotation for p in out.parameters if p.HasField("annotation")]
    if out.HasField("returns"):
        annotations.append(out.returns)
    if out.HasField("yields"):
        annotations.append(out.yields)
    for a in annotations:  # only the text is compared
        a.ClearField("modules")
        a.ClearField("note")
    return out


def encode(sig: pb.CallbackSignature) -> str:
    """The compact text a stub carries: ``stripped(sig)`` as URL-safe base64."""
    return base64.urlsafe_b64encode(stripped(sig).SerializeToString()).rstrip(b"=").decode()


def decode(text: str) -> pb.CallbackSignature:
    """The signature of ``encode``'s text; ValueError when it is not one."""
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
        sig = pb.CallbackSignature.FromString(raw)
    except Exception as exc:
        raise ValueError(f"not a daffi contract: {text[:40]!r}") from exc
    if not sig.name:
        raise ValueError(f"not a daffi contract: {text[:40]!r}")
    return sig
