"""The ``daffi-codegen`` command."""

from __future__ import annotations

import argparse
import difflib
import json
import keyword
import os
import re
import sys
from pathlib import Path
from typing import Any

from daffi_core.cli import add_client_security, add_controller_options, client_security, controller_address
from daffi_core.errors import InitializationError
from daffi_core.logs import configure
from daffi_core.transport import CHOICES, TRANSPORT_ENV, resolve_transport

from daffi_codegen.__about__ import __version__
from daffi_codegen.collect import CollectError, fetch_catalog, select
from daffi_codegen.drift import classify
from daffi_codegen.listing import as_json, as_table
from daffi_codegen.render import LOCK_FILE, MARKER, render_files

__all__ = ["main", "package_name_problem"]


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="daffi-codegen",
        description="Write typed fetcher stubs for the callbacks the nodes of a running daffi controller announce.",
    )
    add_controller_options(parser)
    what = parser.add_mutually_exclusive_group(required=True)
    what.add_argument("--out", type=Path, help="package directory to write the stubs to")
    what.add_argument("--list", action="store_true", help="print the live catalogue instead of writing stubs")
    parser.add_argument("--check", action="store_true", help="write nothing; exit 1 when --out differs")
    parser.add_argument(
        "--fail-on",
        choices=["any", "breaking"],
        default="any",
        help="with --check: fail on any difference (default) or only on breaking changes",
    )
    parser.add_argument("--json", action="store_true", help="with --list: JSON instead of a table")
    parser.add_argument("--process", action="append", default=[], help="only this node process (repeatable)")
    parser.add_argument(
        "--wait-process", action="append", default=[], help="wait until this process is connected (repeatable)"
    )
    parser.add_argument("--timeout", type=float, default=10.0, help="seconds to wait for the controller and nodes")
    add_client_security(parser)
    parser.add_argument(
        "--transport",
        choices=CHOICES,
        help=f"the controller's transport: 'grpc', 'socket', or 'auto' (socket on a UNIX socket, grpc on TCP; "
        f"default ${TRANSPORT_ENV}, else auto); 'nats': ask the nodes on the NATS server at --host/--port "
        "(needs nats-py: pip install daffi-node[nats] or nats-py)",
    )
    parser.add_argument("--version", action="version", version=f"daffi-codegen {__version__}")
    return parser


def main(argv: list[str] | None = None) -> int:
    try:
        return _main(argv)
    except BrokenPipeError:  # output piped into a reader that stopped early (`| head`): no traceback
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1


def _main(argv: list[str] | None) -> int:
    args = _parser().parse_args(argv)
    if args.out is not None and (problem := package_name_problem(args.out)):
        print(f"daffi-codegen: error: {problem}", file=sys.stderr)
        return 2
    configure("INFO")  # what fetch_catalog says while it waits
    try:
        address = controller_address(args)
        security = client_security(args)
        transport = resolve_transport(args.transport, address)
        catalog = fetch_catalog(address, args.wait_process, args.timeout, security, transport)
        nodes = select(catalog, args.process)
    except (CollectError, InitializationError) as exc:
        print(f"daffi-codegen: error: {exc}", file=sys.stderr)
        return 2
    if args.list:
        print(as_json(nodes) if args.json else as_table(nodes))
        return 0
    out: Path = args.out
    prune = not args.process  # a partial run leaves the other processes' modules alone
    kept = {} if prune else _read_lock(out).get("processes", {})
    files = render_files(nodes, out.name, kept)
    if args.check:
        return _check(out, files, prune, args.fail_on)
    written = _write(out, files, prune)
    print(f"daffi-codegen: {len(nodes)} node(s), {sum(len(n.callbacks) for n in nodes)} callback(s) -> {out}")
    for line in written:
        print(f"  {line}")
    return 0


def package_name_problem(out: Path) -> str | None:
    """Why ``--out`` cannot be imported as a package (with a name that can), or None when it can."""
    name = out.name or out.resolve().name
    if name.isidentifier() and not keyword.iskeyword(name):
        return None
    fixed = re.sub(r"\W", "_", name) or "stubs"
    if not fixed.isidentifier():  # starts with a digit
        fixed = f"stubs_{fixed}"
    if keyword.iskeyword(fixed):
        fixed = f"{fixed}_stubs"
    suggestion = out.with_name(fixed) if out.name else Path(fixed)
    why = "a Python keyword" if keyword.iskeyword(name) else "not a Python identifier"
    return (
        f"--out {out}: the stubs are imported as the package {name!r}, which is {why}; "
        f"use a folder named like a module, e.g. --out {suggestion}"
    )


def _read_lock(out: Path) -> dict[str, Any]:
    """The signatures the stubs in ``out`` were made from (none when there is no readable lock)."""
    try:
        lock = json.loads((out / LOCK_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"processes": {}}
    return lock if isinstance(lock, dict) and isinstance(lock.get("processes"), dict) else {"processes": {}}


def _generated(out: Path) -> set[str]:
    """Modules in ``out`` written by daffi-codegen (user files are never touched)."""
    if not out.is_dir():
        return set()
    return {p.name for p in out.glob("*.py") if p.read_text(encoding="utf-8", errors="replace").startswith(MARKER)}


def _write(out: Path, files: dict[str, str], prune: bool) -> list[str]:
    out.mkdir(parents=True, exist_ok=True)
    changed = []
    for name, text in sorted(files.items()):
        path = out / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            changed.append(f"wrote {name}")
    if prune:
        for name in sorted(_generated(out) - files.keys()):
            (out / name).unlink()
            changed.append(f"removed {name} (its node is gone)")
    return changed


def _check(out: Path, files: dict[str, str], prune: bool, fail_on: str) -> int:
    names = sorted(files.keys() | (_generated(out) if prune else set()))
    diffs: list[str] = []
    for name in names:
        path = out / name
        current = path.read_text(encoding="utf-8") if path.exists() else ""
        wanted = files.get(name, "")
        if current != wanted:
            diffs.extend(
                difflib.unified_diff(
                    current.splitlines(keepends=True), wanted.splitlines(keepends=True), f"{out / name}", "live nodes"
                )
            )
    if not diffs:
        print(f"daffi-codegen: {out} is up to date")
        return 0
    changes = classify(_read_lock(out), json.loads(files[LOCK_FILE]))
    breaking = [c for c in changes if c.breaking]
    print(
        f"daffi-codegen: {out} differs from the running nodes ({len(breaking)} breaking, "
        f"{len(changes) - len(breaking)} compatible change(s)):"
    )
    for change in changes:
        print(f"  {change}")
    print()
    sys.stdout.writelines(line if line.endswith("\n") else line + "\n" for line in diffs)
    if fail_on == "breaking" and not breaking:
        print("daffi-codegen: no breaking change (--fail-on breaking)")
        return 0
    return 1
