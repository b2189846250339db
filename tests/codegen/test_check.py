"""``--check``: drift between committed stubs and the live nodes, classified breaking or compatible.

Each test generates stubs from tests/services/codegen_service.py, restarts the node the way a new
release would change it (a flag of the service), and runs ``--check`` against the same directory.
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.codegen.conftest import MODULE, NODE, SERVICE, codegen, files_of, wait_catalog
from tests.support.procs import Proc, Procs, Where

#: Also on NATS, one server and a cluster (tests/conftest.py).
pytestmark = pytest.mark.nats


def _generate(where: Where, out: Path) -> None:
    result = codegen(where, "--wait-process", NODE, "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr


def _restart(procs: Procs, where: Where, node: Proc, *flags: str) -> Proc:
    """Stop ``node`` and start it again with ``flags`` once the controller has seen it leave."""
    assert node.stop() == 0, node.output
    wait_catalog(where, lambda names: NODE not in names)
    return procs.service(where, NODE, SERVICE, *flags)


def _check(where: Where, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
    return codegen(where, "--wait-process", NODE, "--out", str(out), "--check", *extra)


def _summary(result: subprocess.CompletedProcess[str]) -> list[str]:
    """The classified changes (the lines before the diff)."""
    return [line.strip() for line in result.stdout.splitlines() if line.startswith(("  BREAKING", "  compatible"))]


def test_check_passes_on_fresh_stubs(procs: Procs, controller: Where, tmp_path: Path) -> None:
    procs.service(controller, NODE, SERVICE)
    out = tmp_path / "stubs"
    _generate(controller, out)
    result = _check(controller, out)
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.strip() == f"daffi-codegen: {out} is up to date"
    assert _check(controller, out, "--fail-on", "breaking").returncode == 0


def test_new_required_parameter_is_breaking(procs: Procs, controller: Where, tmp_path: Path) -> None:
    node = procs.service(controller, NODE, SERVICE)
    out = tmp_path / "stubs"
    _generate(controller, out)
    before = files_of(out)
    _restart(procs, controller, node, "--add-required")

    result = _check(controller, out)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "(1 breaking, 0 compatible change(s))" in result.stdout, result.stdout
    assert _summary(result) == [f"BREAKING   {NODE}.add: new required parameter 'c'"], result.stdout
    # a readable unified diff of the module and the lock file
    assert f"--- {out / (MODULE + '.py')}\n+++ live nodes\n" in result.stdout, result.stdout
    assert "\n-def add(a: int, b: int) -> int:\n" in result.stdout, result.stdout
    assert "\n+def add(a: int, b: int, c: int) -> int:\n" in result.stdout, result.stdout
    assert '\n+@daffi.remote(contract="' in result.stdout, result.stdout  # the new signature, for the callee
    assert f"--- {out / 'daffi.lock.json'}\n+++ live nodes\n" in result.stdout
    assert files_of(out) == before  # --check writes nothing

    strict = _check(controller, out, "--fail-on", "breaking")
    assert strict.returncode == 1, strict.stdout + strict.stderr
    assert "BREAKING" in strict.stdout


def test_new_optional_parameter_is_compatible(procs: Procs, controller: Where, tmp_path: Path) -> None:
    node = procs.service(controller, NODE, SERVICE)
    out = tmp_path / "stubs"
    _generate(controller, out)
    _restart(procs, controller, node, "--greet-optional")

    result = _check(controller, out)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "(0 breaking, 1 compatible change(s))" in result.stdout, result.stdout
    assert _summary(result) == [f"compatible {NODE}.greet: new optional parameter 'times'"], result.stdout
    assert "+def greet(name: str, punctuation: str = '!', times: int = 1) -> str:\n" in result.stdout

    lenient = _check(controller, out, "--fail-on", "breaking")
    assert lenient.returncode == 0, lenient.stdout + lenient.stderr
    assert "no breaking change (--fail-on breaking)" in lenient.stdout
    assert "+def greet(" in lenient.stdout  # the diff is still shown


@pytest.mark.parametrize(
    ("flags", "expected"),
    [
        (["--drop-shout"], [f"BREAKING   {NODE}.shout: callback removed"]),
        (
            ["--drop-shout", "--greet-optional"],
            [
                f"compatible {NODE}.greet: new optional parameter 'times'",
                f"BREAKING   {NODE}.shout: callback removed",
            ],
        ),
    ],
)
def test_removed_callback_is_breaking(
    procs: Procs, tcp: Where, tmp_path: Path, flags: list[str], expected: list[str]
) -> None:
    procs.controller(tcp)
    node = procs.service(tcp, NODE, SERVICE)
    out = tmp_path / "stubs"
    _generate(tcp, out)
    _restart(procs, tcp, node, *flags)

    for extra in ([], ["--fail-on", "breaking"]):
        result = _check(tcp, out, *extra)
        assert result.returncode == 1, result.stdout + result.stderr
        assert _summary(result) == expected, result.stdout
        assert '-    "shout",\n' in result.stdout  # gone from __all__ in the diff
        assert "-def shout(text: str) -> str:\n" in result.stdout

    # regenerating brings the stubs up to date again
    _generate(tcp, out)
    assert _check(tcp, out).returncode == 0
    assert "def shout" not in (out / f"{MODULE}.py").read_text()


def test_check_of_an_empty_directory_fails(procs: Procs, tcp: Where, tmp_path: Path) -> None:
    procs.controller(tcp)
    procs.service(tcp, NODE, SERVICE)
    out = tmp_path / "never_generated"
    result = _check(tcp, out)
    assert result.returncode == 1, result.stdout + result.stderr
    # every callback is new: compatible, and --fail-on breaking lets it pass
    summary = _summary(result)
    assert len(summary) == 16 and all(line.startswith("compatible") for line in summary), result.stdout
    assert not out.exists()  # nothing written
    assert _check(tcp, out, "--fail-on", "breaking").returncode == 0
