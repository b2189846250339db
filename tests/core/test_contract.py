"""daffi_core.contract: one normalized form, fingerprints, the compatibility rules, stub text."""

from __future__ import annotations

import pytest
from daffi import remote
from daffi_core import contract
from daffi_core.errors import InitializationError
from daffi_core.signature import describe


def scale(x: int, factor: int = 2) -> int:
    """Scales."""
    return x * factor


def scale_documented(x: int, factor: int = 2) -> int:
    """Another docstring, another module: the same contract."""
    return x * factor


def scale_wider(x: int, factor: int = 3, offset: int = 0) -> int:
    return x * factor + offset


def scale_text(x: str, factor: int = 2) -> int:
    return len(x) * factor


def test_the_fingerprint_names_what_callers_depend_on() -> None:
    base = contract.fingerprint(describe(scale))
    assert len(base) == 16 and int(base, 16) >= 0
    assert contract.fingerprint(describe(scale_documented, "scale")) == base
    assert contract.fingerprint(describe(scale_wider, "scale")) != base
    assert contract.fingerprint(describe(scale, "other")) != base


def test_a_stub_contract_round_trips_without_docs() -> None:
    sig = describe(scale)
    text = contract.encode(sig)
    assert text.isascii() and "=" not in text
    back = contract.decode(text)
    assert back.doc == "" and back.module == ""
    assert contract.entry(back) == {**contract.entry(sig), "doc": ""}
    assert contract.fingerprint(back) == contract.fingerprint(sig)
    with pytest.raises(ValueError, match="not a daffi contract"):
        contract.decode("!!not base64!!")


def test_breaking_and_compatible_changes() -> None:
    old = contract.entry(describe(scale))
    wider = contract.compare("svc.scale", old, contract.entry(describe(scale_wider, "scale")))
    assert [(c.breaking, c.what) for c in wider] == [
        (False, "new optional parameter 'offset'"),
        (False, "parameter 'factor' default 2 -> 3"),
        (False, "docstring changed"),
    ]
    text = contract.compare("svc.scale", old, contract.entry(describe(scale_text, "scale")))
    assert [(c.breaking, c.what) for c in text if c.breaking] == [(True, "parameter 'x' annotation int -> str")]


def test_a_stub_with_a_damaged_contract_fails_at_import() -> None:
    with pytest.raises(InitializationError, match=r"not a daffi contract.*regenerate the stubs"):
        remote(contract="%%%")(scale)
