"""The committed protobuf modules are exactly what proto/generate.py produces."""

from __future__ import annotations

import importlib.util
import types
from pathlib import Path

from tests.support.procs import ROOT


def _generator() -> types.ModuleType:
    spec = importlib.util.spec_from_file_location("proto_generate", ROOT / "proto" / "generate.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_generated_code_is_fresh(tmp_path: Path) -> None:
    generator = _generator()
    written = generator.generate(tmp_path)
    committed = ROOT / "packages" / "daffi-core" / "src" / "daffi_core" / "proto"
    assert {p.name for p in written} == set(generator.GENERATED)
    stale = [p.name for p in written if p.read_bytes() != (committed / p.name).read_bytes()]
    assert not stale, f"stale generated files {stale}: run `hatch run proto` and commit the result"
