"""daffi's public face: its names say they are daffi's, pickle by those names, are documented and typed."""

from __future__ import annotations

import ast
import importlib
import inspect
import pickle
import pickletools
import subprocess
import sys
import textwrap
from pathlib import Path

import daffi
import mypy.api
import pytest
from daffi_core import errors

from tests.support.procs import ROOT

#: The names of ``daffi.__all__`` that are classes or functions (``__version__`` is a string).
PUBLIC = [name for name in daffi.__all__ if inspect.isclass(getattr(daffi, name)) or callable(getattr(daffi, name))]
EXCEPTIONS = [getattr(daffi, name) for name in PUBLIC if inspect.isclass(getattr(daffi, name))]
EXCEPTIONS = [cls for cls in EXCEPTIONS if issubclass(cls, BaseException)]


def _instance(cls: type[BaseException]) -> BaseException:
    if cls is daffi.RemoteCallError:
        return daffi.RemoteCallError("ValueError", "bad value", "Traceback (most recent call last): ...", "worker")
    return cls(f"a {cls.__name__}")


@pytest.mark.parametrize("name", PUBLIC)
def test_public_names_are_daffis(name: str) -> None:
    """Every public class and function says it is ``daffi``'s (httpx-style), whatever module defines it."""
    assert getattr(daffi, name).__module__ == "daffi"


def test_reprs_name_daffi() -> None:
    assert repr(daffi.Global) == "<class 'daffi.Global'>"
    assert repr(daffi.AsyncResult[int]) == "daffi.AsyncResult[int]"
    assert repr(daffi.RemoteCallError) == "<class 'daffi.RemoteCallError'>"


def test_the_controller_side_keeps_daffi_cores_names_until_daffi_is_imported() -> None:
    """The rewrite happens in daffi's ``__init__``: a process that never imports daffi (the controller) keeps them."""
    code = (
        "import daffi_core.errors as e; print(e.RemoteCallError.__module__); "
        "import daffi; print(e.RemoteCallError.__module__)"
    )
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, check=True)
    assert done.stdout.split() == ["daffi_core.errors", "daffi"], done.stdout + done.stderr


@pytest.mark.parametrize("cls", EXCEPTIONS, ids=lambda cls: cls.__name__)
def test_exceptions_pickle_by_their_daffi_names(cls: type[BaseException]) -> None:
    exc = _instance(cls)
    data = pickle.dumps(exc)
    strings = [arg for _, arg, _ in pickletools.genops(data) if isinstance(arg, str)]
    assert strings[:2] == ["daffi", cls.__qualname__]  # looked up as daffi.<name>
    back = pickle.loads(data)
    assert type(back) is cls
    assert str(back) == str(exc)
    if isinstance(exc, daffi.RemoteCallError):
        assert isinstance(back, daffi.RemoteCallError)
        assert (back.type_name, back.remote_message, back.remote_traceback, back.process_name) == (
            exc.type_name,
            exc.remote_message,
            exc.remote_traceback,
            exc.process_name,
        )


def test_exceptions_unpickle_in_a_fresh_process() -> None:
    """What pickle writes here is read by a process that has imported nothing of daffi yet."""
    blob = pickle.dumps([_instance(cls) for cls in EXCEPTIONS] + [daffi.BG(eta=1), daffi.Args(1, k=2)])
    code = (
        "import pickle, sys; "
        "print(*(type(x).__module__ + '.' + type(x).__name__ for x in pickle.load(sys.stdin.buffer)))"
    )
    done = subprocess.run([sys.executable, "-c", code], input=blob, capture_output=True, timeout=60, check=True)
    assert done.stdout.decode().split() == [f"daffi.{cls.__name__}" for cls in EXCEPTIONS] + ["daffi.BG", "daffi.Args"]


def test_daffi_1x_modules_and_the_testing_package_still_import() -> None:
    for module in ("exceptions", "decorators", "remote_call", "execution_modifiers", "globals", "async_result"):
        importlib.import_module(f"daffi.{module}")
    from daffi.exceptions import RemoteCallError, UnableToFindCandidate
    from daffi.testing import fake_nodes

    assert RemoteCallError is daffi.RemoteCallError and UnableToFindCandidate is daffi.UnableToFindCandidate
    assert callable(fake_nodes)
    assert errors.RemoteCallError is daffi.RemoteCallError


def _undocumented() -> list[str]:
    missing = []
    for name in PUBLIC:
        obj = getattr(daffi, name)
        if not (obj.__doc__ or "").strip():
            missing.append(name)
        if not inspect.isclass(obj):
            continue
        for cls in obj.__mro__:
            if not cls.__module__.startswith("daffi"):
                continue
            for attr, value in vars(cls).items():
                if attr.startswith("_") and attr not in ("__init__", "__call__", "__and__"):
                    continue
                func = value.__func__ if isinstance(value, (staticmethod, classmethod)) else value
                if attr == "__init__" and not inspect.isfunction(func):
                    continue
                if isinstance(func, property) or inspect.isfunction(func):
                    documented = (func.__doc__ or "").strip() or (attr == "__init__" and (cls.__doc__ or "").strip())
                    if not documented:
                        missing.append(f"{name}.{attr} (defined by {cls.__qualname__})")
    return missing


def test_every_public_callable_and_method_has_a_docstring() -> None:
    assert _undocumented() == []


def test_global_documents_every_parameter() -> None:
    doc = inspect.getdoc(daffi.Global.__init__) or ""
    assert "Args:" in doc
    args = doc.split("Args:", 1)[1]
    parameters = [p for p in inspect.signature(daffi.Global.__init__).parameters if p != "self"]
    undocumented = [
        p for p in parameters if f"\n    {p}: " not in "\n" + args and not args.lstrip().startswith(f"{p}:")
    ]
    assert undocumented == []


def _sources() -> list[Path]:
    packages = ("daffi-node", "daffi-core", "daffi-controller", "daffi-codegen")
    roots = [ROOT / "packages" / pkg / "src" for pkg in packages]
    return sorted(p for root in roots for p in root.rglob("*.py") if "proto" not in p.parts)


@pytest.mark.parametrize("path", _sources(), ids=lambda p: str(p.relative_to(ROOT / "packages")))
def test_all_is_at_the_top(path: Path) -> None:
    """A module with public names lists them in ``__all__`` before its first definition."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    public = [
        n.name
        for n in tree.body
        if isinstance(n, (ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef)) and not n.name.startswith("_")
    ]
    position = next(
        (
            i
            for i, n in enumerate(tree.body)
            if isinstance(n, ast.Assign) and any(getattr(t, "id", None) == "__all__" for t in n.targets)
        ),
        None,
    )
    if not public and position is None:
        return
    assert position is not None, f"{path.name} has public names and no __all__"
    first_definition = next(
        i for i, n in enumerate(tree.body) if not isinstance(n, (ast.Import, ast.ImportFrom, ast.If, ast.Try, ast.Expr))
    )
    assert position <= first_definition, f"{path.name}: __all__ comes after the module's definitions"


TYPED = """\
# mypy: disable-error-code="empty-body"
from typing import Any

from typing_extensions import assert_type

from daffi import (
    BG, BROADCAST, FG, PERIOD, STREAM, AsyncResult, AwaitableValue, Global, RemoteIterator, ScheduledTask, fetcher,
    remote,
)
from collections.abc import Iterator


@remote
def add(a: int, b: int) -> int: ...
@remote
async def add_async(a: int, b: int) -> int: ...
@remote
def count(n: int) -> RemoteIterator[int]: ...
@fetcher
def untyped(a: int) -> int: ...


assert_type(add(1, 2), int)
assert_type(add.call(1, 2) & FG, int)
assert_type(add.call(1, 2) & FG(timeout=5), int)
assert_type(add.call(1, 2) & BG, AsyncResult[int])
assert_type((add.call(1, 2) & BG(eta=1)).get(), int)
assert_type(add.call(1, 2) & BROADCAST, dict[str, int])
assert_type(add.call(1, 2) & BROADCAST(timeout=3), dict[str, int])
assert_type(add.call(1, 2) & PERIOD(interval=1), ScheduledTask)
assert_type(add.call(1, 2) & STREAM, None)
assert_type(add.call(1, 2).fg(), int)
assert_type(add.call(1, 2).bg(), AsyncResult[int])
assert_type(add.call(1, 2).broadcast(), dict[str, int])
assert_type(add_async(1, 2), AwaitableValue[int])
assert_type(add_async.call(1, 2) & FG, AwaitableValue[int])
assert_type(add_async.call(1, 2) & BG, AsyncResult[int])
assert_type(add_async.call(1, 2) & BROADCAST, AwaitableValue[dict[str, int]])
assert_type(add_async.call(1, 2) & PERIOD(interval=1), AwaitableValue[ScheduledTask])
assert_type(count(3), RemoteIterator[int])
assert_type(untyped.call(1) & FG, Any)
assert_type(untyped.call(1) & BG, AsyncResult[Any])
assert_type(untyped.call(1) & BROADCAST, dict[str, Any])
assert_type(untyped.call(1) & STREAM, None)
assert_type(untyped.call(1) & PERIOD(interval=1), ScheduledTask)
g = Global.__new__(Global)
assert_type(g.call.anything(1) & BG, AsyncResult[Any])
assert_type(g.call.anything(1) & BROADCAST, dict[str, Any])
assert_type(g.call.anything(1, __exec_modifier__=FG), Any)
assert_type(g.get_scheduled_tasks("node")[0]["runs"], int)
assert_type(g.transfer_and_call("node", lambda: 3), int)
"""


def test_results_of_modifiers_are_typed(tmp_path: Path) -> None:
    """``f(...) & MODIFIER`` is typed per modifier: typed fetchers, untyped ones and ``g.call`` alike."""
    source = tmp_path / "typed_results.py"
    source.write_text(textwrap.dedent(TYPED), encoding="utf-8")
    out, err, status = mypy.api.run(
        ["--strict", "--config-file", str(ROOT / "mypy.ini"), "--cache-dir", str(tmp_path / "cache"), str(source)]
    )
    assert status == 0, out + err
