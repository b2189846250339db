"""Generate daffi-core's protobuf modules from ``proto/daffi.proto``.

``python proto/generate.py`` rewrites ``packages/daffi-core/src/daffi_core/proto``;
``generate(out_dir)`` writes to any folder, which the freshness test uses.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
PROTO_DIR = ROOT / "proto"
PACKAGE_SRC = ROOT / "packages" / "daffi-core" / "src"
GENERATED = ("daffi_pb2.py", "daffi_pb2.pyi", "daffi_pb2_grpc.py", "daffi_pb2_grpc.pyi")


def _plugin(name: str) -> str:
    """Path of a protoc plugin installed beside this interpreter (protoc looks only on PATH)."""
    found = shutil.which(name, path=str(Path(sys.executable).parent)) or shutil.which(name)
    if found is None:
        raise SystemExit(f"{name} not found: install mypy-protobuf in this environment")
    return found


def generate(out_dir: Path) -> list[Path]:
    """Write the generated modules into ``out_dir/daffi_core/proto`` and return their paths."""
    with tempfile.TemporaryDirectory() as tmp:
        # The virtual include path makes the generated code import itself as daffi_core.proto.
        args = [
            sys.executable,
            "-m",
            "grpc_tools.protoc",
            f"-Idaffi_core/proto={PROTO_DIR}",
            f"--plugin=protoc-gen-mypy={_plugin('protoc-gen-mypy')}",
            f"--plugin=protoc-gen-mypy_grpc={_plugin('protoc-gen-mypy_grpc')}",
            f"--python_out={tmp}",
            f"--grpc_python_out={tmp}",
            f"--mypy_out={tmp}",
            f"--mypy_grpc_out=only_async:{tmp}",
            str(PROTO_DIR / "daffi.proto"),
        ]
        subprocess.run(args, check=True, cwd=ROOT, env={**os.environ})
        target = out_dir / "daffi_core" / "proto"
        target.mkdir(parents=True, exist_ok=True)
        written = []
        for name in GENERATED:
            dest = target / name
            shutil.copyfile(Path(tmp) / "daffi_core" / "proto" / name, dest)
            written.append(dest)
        return written


if __name__ == "__main__":
    for path in generate(PACKAGE_SRC):
        print(path.relative_to(ROOT))
