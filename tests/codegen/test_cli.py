"""The rest of the command: stale modules, ``--process``, waiting and its errors, ``--list``."""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from daffi_codegen.render import MARKER

from tests.codegen.conftest import NODE, SERVICE, codegen, files_of, wait_catalog
from tests.support.procs import Procs, Where, free_port

#: Also on NATS, one server and a cluster (tests/conftest.py).
pytestmark = pytest.mark.nats

A, B = "codegen-a", "codegen-b"


def _two_nodes(procs: Procs, where: Where) -> None:
    procs.service(where, A, SERVICE)
    procs.service(where, B, SERVICE)


def _one_error_line(stderr: str) -> str:
    lines = stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("daffi-codegen: error: "), stderr
    assert "Traceback" not in stderr
    return lines[0]


def test_module_of_a_vanished_node_is_removed(procs: Procs, controller: Where, tmp_path: Path) -> None:
    procs.service(controller, A, SERVICE)
    b = procs.service(controller, B, SERVICE)
    out = tmp_path / "stubs"
    first = codegen(controller, "--wait-process", A, "--wait-process", B, "--out", str(out))
    assert first.returncode == 0, first.stdout + first.stderr
    assert {"codegen_a.py", "codegen_b.py"} <= set(files_of(out))
    # user files in the package are never touched, even one that mentions the marker further down
    (out / "helpers.py").write_text('"""Hand-written."""\n')
    (out / "notes.py").write_text(f'"""Not generated."""\n{MARKER}\n')
    (out / "README.txt").write_text(f"{MARKER}\n")

    assert b.stop() == 0, b.output
    wait_catalog(controller, lambda names: B not in names)
    # --check sees every callback of the vanished node as removed, and the module's removal in the diff
    check = codegen(controller, "--out", str(out), "--check")
    assert check.returncode == 1, check.stdout + check.stderr
    assert f"BREAKING   {B}.add: callback removed" in check.stdout
    assert f"{A}." not in check.stdout.split("\n\n")[0], check.stdout  # node A did not change
    assert f"--- {out / 'codegen_b.py'}\n+++ live nodes\n" in check.stdout

    again = codegen(controller, "--out", str(out))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "removed codegen_b.py (its node is gone)" in again.stdout
    names = set(files_of(out))
    assert "codegen_b.py" not in names
    assert {"codegen_a.py", "helpers.py", "notes.py", "README.txt"} <= names
    assert (out / "helpers.py").read_text() == '"""Hand-written."""\n'
    assert B not in (out / "__init__.py").read_text()
    assert B not in json.loads((out / "daffi.lock.json").read_text())["processes"]
    assert codegen(controller, "--out", str(out), "--check").returncode == 0


def test_process_limits_the_output(procs: Procs, tcp: Where, tmp_path: Path) -> None:
    procs.controller(tcp)
    _two_nodes(procs, tcp)
    only_a = tmp_path / "only_a"
    result = codegen(tcp, "--wait-process", A, "--wait-process", B, "--process", A, "--out", str(only_a))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 node(s), 16 callback(s)" in result.stdout
    assert sorted(files_of(only_a)) == ["__init__.py", "codegen_a.py", "daffi.lock.json", "py.typed"]
    assert list(json.loads((only_a / "daffi.lock.json").read_text())["processes"]) == [A]

    # a partial run over a full package leaves the other nodes' modules, lock entries and index alone
    full = tmp_path / "full"
    assert codegen(tcp, "--out", str(full)).returncode == 0
    generated = files_of(full)
    assert {"codegen_a.py", "codegen_b.py"} <= set(generated)
    for extra in (["--check"], []):
        partial = codegen(tcp, "--process", A, "--out", str(full), *extra)
        assert partial.returncode == 0, partial.stdout + partial.stderr
        assert files_of(full) == generated
    assert codegen(tcp, "--out", str(full), "--check").returncode == 0

    unknown = codegen(tcp, "--process", "nobody", "--out", str(tmp_path / "x"))
    assert unknown.returncode == 2
    assert _one_error_line(unknown.stderr) == "daffi-codegen: error: no connected node with callbacks is named nobody"
    assert not (tmp_path / "x").exists()


def test_waiting_for_a_process_that_never_comes(procs: Procs, controller: Where, tmp_path: Path) -> None:
    procs.service(controller, NODE, SERVICE)
    started = time.monotonic()
    result = codegen(controller, "--wait-process", "ghost", "--timeout", "1", "--out", str(tmp_path / "stubs"))
    elapsed = time.monotonic() - started
    assert result.returncode == 2, result.stdout + result.stderr
    assert _one_error_line(result.stderr) == "daffi-codegen: error: still waiting for ghost after 1 s"
    assert elapsed < 8, elapsed
    assert not (tmp_path / "stubs").exists()


def test_no_controller_fails_within_the_timeout(tmp_path: Path) -> None:
    for where in (Where(host="127.0.0.1", port=free_port()), Where(unix_sock_path=str(tmp_path / "none.sock"))):
        started = time.monotonic()
        result = codegen(where, "--timeout", "1", "--out", str(tmp_path / "stubs"))
        elapsed = time.monotonic() - started
        assert result.returncode == 2, result.stdout + result.stderr
        line = _one_error_line(result.stderr)
        assert line.startswith("daffi-codegen: error: no controller answered at ") and line.endswith("after 1 s")
        assert elapsed < 8, elapsed
    assert not (tmp_path / "stubs").exists()


def test_bad_options_exit_2(tmp_path: Path) -> None:
    both = codegen(None, "--host", "127.0.0.1", "--port", "1", "--unix-sock-path", "x", "--out", str(tmp_path))
    assert both.returncode == 2
    assert _one_error_line(both.stderr) == "daffi-codegen: error: give either host/port or unix_sock_path, not both"
    neither = codegen(None)
    assert neither.returncode == 2 and "one of the arguments --out --list is required" in neither.stderr


@pytest.mark.parametrize(
    ("out", "why", "suggestion"),
    [
        ("my-stubs", "'my-stubs', which is not a Python identifier", "--out {tmp}/my_stubs"),
        ("class", "'class', which is a Python keyword", "--out {tmp}/class_stubs"),
        ("2stubs", "'2stubs', which is not a Python identifier", "--out {tmp}/stubs_2stubs"),
    ],
)
def test_out_that_is_not_a_package_name(tmp_path: Path, out: str, why: str, suggestion: str) -> None:
    """Refused with the reason and a name that works, before connecting (no controller runs, and
    the timeout is long) and before writing anything."""
    for extra in ([], ["--check"]):
        started = time.monotonic()
        result = codegen(
            Where(host="127.0.0.1", port=free_port()), "--timeout", "30", "--out", str(tmp_path / out), *extra
        )
        assert result.returncode == 2, result.stdout + result.stderr
        line = _one_error_line(result.stderr)
        assert line.startswith(f"daffi-codegen: error: --out {tmp_path / out}: "), line
        assert f"the stubs are imported as the package {why}" in line, line
        assert line.endswith(suggestion.format(tmp=tmp_path)), line
        assert time.monotonic() - started < 15, "it must fail before waiting for a controller"
    assert list(tmp_path.iterdir()) == []


def test_list_prints_the_catalogue(procs: Procs, controller: Where) -> None:
    _two_nodes(procs, controller)
    table = codegen(controller, "--wait-process", A, "--wait-process", B, "--list")
    assert table.returncode == 0, table.stdout + table.stderr
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["PROCESS", "CALLBACK", "SIGNATURE", "DOC"]
    assert len(lines) == 1 + 2 * 16
    rows = [line.split(None, 2) for line in lines[1:]]
    assert [r[0] for r in rows] == [A] * 16 + [B] * 16
    assert [r[1] for r in rows[:16]] == sorted(r[1] for r in rows[:16])
    add_row = next(line for line in lines if line.startswith(A) and " add " in line)
    assert "def add(a: int, b: int) -> int" in add_row and add_row.endswith("Add the integers.")
    assert any("async def async_double(x: int) -> int" in line for line in lines)
    assert any(
        "def kinds(a: int, /, b: str, *rest: int, flag: bool = False, **extra: str) -> str" in line for line in lines
    )
    # the first line of a docstring
    assert any(line.endswith("Minimum, maximum and mean of ``values``.") for line in lines)

    only = codegen(controller, "--list", "--json", "--process", B)
    assert only.returncode == 0, only.stdout + only.stderr
    catalogue = json.loads(only.stdout)
    assert list(catalogue) == [B]
    greet = catalogue[B]["greet"]
    assert greet == {
        "doc": "",
        "is_async": False,
        "is_generator": False,
        "parameters": [
            {"annotation": "str", "default": None, "kind": "POSITIONAL_OR_KEYWORD", "name": "name"},
            {"annotation": "str", "default": "'!'", "kind": "POSITIONAL_OR_KEYWORD", "name": "punctuation"},
        ],
        "returns": "str",
        "yields": None,
    }
    count_up = catalogue[B]["count_up"]
    assert count_up["is_generator"] and count_up["yields"] == "int"
    assert count_up["returns"] == "collections.abc.Iterator[int]"
    assert [p["name"] for p in catalogue[B]["whoami"]["parameters"]] == []  # g is not announced
