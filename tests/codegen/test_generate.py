"""The issue's "Done means" scenario, with real processes.

A controller (TCP and UNIX), a node running tests/services/codegen_service.py, ``python -m
daffi_codegen`` writing the stubs into a temporary package; then ``mypy --strict`` over the
stubs and a client, and the client run against the live node.
"""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
from daffi_codegen.render import MARKER
from daffi_core import contract

from tests.codegen.conftest import MODULE, NODE, SERVICE, Mypy, codegen, files_of, run_client
from tests.support.procs import Procs, Where

#: Also on NATS, one server and a cluster (tests/conftest.py).
pytestmark = pytest.mark.nats

CLIENT = '''\
"""Uses the generated stubs correctly; prints one line per result."""

from __future__ import annotations

import asyncio
import sys
from typing import TYPE_CHECKING

from codegen_models import Color, Point
from daffi import BG, BROADCAST, PERIOD, Global

from stubs.codegen_svc import (
    add,
    async_double,
    count_up,
    greet,
    keyword_only,
    kinds,
    later,
    maybe,
    norm,
    paint,
    stats,
    unresolved,
    whoami,
)


async def in_async() -> tuple[int, int, list[int]]:
    direct = await async_double(5)
    background = await (async_double.call(6) & BG).get_async(timeout=10)
    items = [i async for i in count_up(3)]
    return direct, background, items


tcp = len(sys.argv) == 3
host = sys.argv[1] if tcp else None
port = int(sys.argv[2]) if tcp else None
unix_sock_path = None if tcp else sys.argv[1]
with Global(process_name="codegen-client", host=host, port=port, unix_sock_path=unix_sock_path) as g:
    g.wait_process("codegen-svc", timeout=10)
    total = add(2, 3)
    background = add.call(4, 5) & BG
    everyone = add.call(1, 1) & BROADCAST
    task = add.call(1, 1) & PERIOD(interval=3600)
    task.cancel()
    hello = greet("Ann")
    summary = stats([1.0, 2.0, 3.0])
    nothing = maybe()
    doubled = async_double(21)
    counted = count_up(4)
    length = norm(Point(3.0, 4.0))
    painted = paint(Color.GREEN, mode="stroke")
    anything = unresolved(1)
    print("add", total, background.get(timeout=10), everyone)
    print("greet", hello, greet("Bob", punctuation="?"))
    print("stats", summary)
    print("maybe", nothing, maybe(7), maybe(x=None))
    print("async_double", doubled.get(timeout=10))
    print("count_up", list(counted))
    print("norm", length)
    print("paint", painted, paint(Color.RED))
    print("later", later(), keyword_only(key="k"), keyword_only(key="k", limit=3))
    print("kinds", kinds(1, "b", 2, 3, flag=True, x="y"))
    print("whoami", whoami())
    print("unresolved", anything)
    print("async", asyncio.run(in_async()))
    print("v1", add.call(1, 2).fg(), add.call(2, 2).bg().get(timeout=10))
    if TYPE_CHECKING:
        reveal_type(total)  # R1
        reveal_type(background)  # R2
        reveal_type(everyone)  # R3
        reveal_type(task)  # R4
        reveal_type(hello)  # R5
        reveal_type(summary)  # R6
        reveal_type(nothing)  # R7
        reveal_type(doubled)  # R8
        reveal_type(counted)  # R9
        reveal_type(length)  # R10
        reveal_type(painted)  # R11
        reveal_type(anything)  # R12
        reveal_type(async_double.call(1) & BG)  # R13
        reveal_type(async_double.call(1) & BROADCAST)  # R14
        reveal_type(add.call(1, 2))  # R15
        reveal_type(add.call(1, 2).fg())  # R16
        reveal_type(add.call(1, 2).bg(eta=1))  # R17
        reveal_type(async_double.call(1).fg())  # R18
'''

#: What mypy reveals for each ``# R<n>`` line of CLIENT.
REVEALED = {
    "R1": "int",
    "R2": "daffi._results.AsyncResult[int]",
    "R3": "dict[str, int]",
    "R4": "daffi._results.ScheduledTask",
    "R5": "str",
    "R6": "dict[str, float]",
    "R7": "str | None",
    "R8": "daffi._results.AwaitableValue[int]",
    "R9": "daffi._caller.RemoteIterator[int]",
    "R10": "float",
    "R11": "str",
    "R12": "Any",
    "R13": "daffi._results.AsyncResult[int]",
    "R14": "daffi._results.AwaitableValue[dict[str, int]]",
    "R15": "daffi._execute.RemoteCall[int]",
    "R16": "int",
    "R17": "daffi._results.AsyncResult[int]",
    "R18": "daffi._results.AwaitableValue[int]",
}

#: What the client prints against the live node.
PRINTED = [
    "add 5 9 {'codegen-svc': 2}",
    "greet Hello, Ann! Hello, Bob?",
    "stats {'min': 1.0, 'max': 3.0, 'mean': 2.0}",
    "maybe None 7 None",
    "async_double 42",
    "count_up [0, 1, 2, 3]",
    "norm 5.0",
    "paint stroke green fill red",
    "later 1.0 k:10 k:3",
    "kinds 1|b|[2, 3]|True|[('x', 'y')]",
    "whoami codegen-svc",
    "unresolved 1",
    "async (10, 12, [0, 1, 2])",
    "v1 3 4",
]

#: Wrong uses of the stubs, each with the mypy error code it must produce (``# E<n>`` marks the line).
BAD_CLIENT = """\
from __future__ import annotations

from codegen_models import Color, Point

from stubs.codegen_svc import add, greet, keyword_only, kinds, maybe, norm, paint, stats, whoami

add("x", 2)  # E1
add(1)  # E2
greet("Ann", punctuation=3)  # E3
stats(["a"])  # E4
norm((1.0, 2.0))  # E5
paint(Color.RED, mode="dots")  # E6
kinds(a=1, b="b")  # E7
keyword_only("k")  # E8
whoami(g=None)  # E9
result: int = maybe()  # E10
text: str = add(1, 2)  # E11
ok: float = norm(Point(1.0, 2.0))
"""
BAD = {
    "E1": {"arg-type"},
    "E2": {"call-arg"},
    "E3": {"arg-type"},
    "E4": {"list-item"},
    "E5": {"arg-type"},
    "E6": {"arg-type"},
    "E7": {"call-arg", "arg-type"},  # positional-only ``a`` by keyword
    "E8": {"call-arg"},
    "E9": {"call-arg"},
    "E10": {"assignment"},
    "E11": {"assignment"},
}


def _marked_lines(source: str) -> dict[str, int]:
    """``# R1`` / ``# E1`` markers → line numbers."""
    out = {}
    for number, line in enumerate(source.splitlines(), start=1):
        found = re.search(r"# ([RE]\d+)$", line)
        if found:
            out[found.group(1)] = number
    return out


def _messages(output: str, file: str) -> dict[int, list[str]]:
    """mypy's lines for ``file``, by line number."""
    out: dict[int, list[str]] = {}
    for line in output.splitlines():
        found = re.match(rf"{re.escape(file)}:(\d+): (.*)$", line)
        if found:
            out.setdefault(int(found.group(1)), []).append(found.group(2))
    return out


def test_generated_stubs_type_check_and_run(procs: Procs, controller: Where, tmp_path: Path, mypy: Mypy) -> None:
    procs.service(controller, NODE, SERVICE)
    out = tmp_path / "stubs"
    result = codegen(controller, "--wait-process", NODE, "--timeout", "20", "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 node(s), 16 callback(s)" in result.stdout
    assert sorted(files_of(out)) == ["__init__.py", f"{MODULE}.py", "daffi.lock.json", "py.typed"]
    source = (out / f"{MODULE}.py").read_text()
    assert source.startswith(MARKER + "\n")
    ast.parse(source)

    # the generated package and a correct client pass mypy --strict; reveal_type shows the exact types
    (tmp_path / "client.py").write_text(CLIENT)
    checked = mypy(tmp_path, "stubs", "client.py")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "error" not in checked.stdout, checked.stdout
    revealed = _messages(checked.stdout, "client.py")
    for marker, line in _marked_lines(CLIENT).items():
        assert revealed.get(line) == [f'note: Revealed type is "{REVEALED[marker]}"'], (marker, checked.stdout)

    # wrong uses are mypy errors, each on its own line
    (tmp_path / "bad_client.py").write_text(BAD_CLIENT)
    bad = mypy(tmp_path, "bad_client.py")
    assert bad.returncode == 1, bad.stdout + bad.stderr
    errors = _messages(bad.stdout, "bad_client.py")
    marked = _marked_lines(BAD_CLIENT)
    for marker, line in marked.items():
        codes = {m.rsplit("[", 1)[-1].rstrip("]") for m in errors.get(line, []) if m.startswith("error:")}
        assert codes and codes <= BAD[marker], (marker, bad.stdout)
    assert set(errors) == set(marked.values()), bad.stdout  # nothing else is an error
    first = errors[marked["E1"]][0]
    assert first.startswith("error: Argument 1 to ") and 'incompatible type "str"; expected "int"' in first, first

    # the client runs against the live node and prints the right values
    ran = run_client(tmp_path, "client.py", controller)
    assert ran.returncode == 0, ran.stdout + ran.stderr
    assert ran.stdout.splitlines() == PRINTED, ran.stdout + ran.stderr


def test_rendering_of_hard_signatures(procs: Procs, tcp: Where, tmp_path: Path) -> None:
    """Keyword-only, positional-only, *args/**kwargs, Literal, Callable, enums, non-literal defaults, Any."""
    procs.controller(tcp)
    procs.service(tcp, NODE, SERVICE)
    out = tmp_path / "stubs"
    result = codegen(tcp, "--wait-process", NODE, "--out", str(out))
    assert result.returncode == 0, result.stdout + result.stderr
    source = (out / f"{MODULE}.py").read_text()

    expected = [
        "from __future__ import annotations",
        "if typing.TYPE_CHECKING:\n    import codegen_models\n    import collections.abc\n    import datetime\n",
        "def add(a: int, b: int) -> int:\n" + '    """Add the integers."""\n',
        "def greet(name: str, punctuation: str = '!') -> str:",
        "def stats(values: list[float]) -> dict[str, float]:\n"
        + '    """Minimum, maximum and mean of ``values``.\n\n    Multi-line docstrings survive codegen.\n    """\n',
        "def maybe(x: int | None = None) -> str | None:",
        '")\nasync def async_double(x: int) -> int:',
        "def count_up(n: int) -> daffi.RemoteIterator[int]:",
        "def norm(p: codegen_models.Point) -> float:",
        "def paint(color: codegen_models.Color, mode: typing.Literal['fill', 'stroke'] = 'fill') -> str:",
        "def apply(fn: collections.abc.Callable[[int], int], x: int) -> int:",
        "def kinds(a: int, /, b: str, *rest: int, flag: bool = False, **extra: str) -> str:",
        "def keyword_only(*, key: str, limit: int = 10) -> str:",
        # a default with no literal form is `...` with the remote repr in a comment
        "    delay: datetime.timedelta = ...,  # remote default datetime.timedelta(seconds=1)\n"
        "    marker: object = ...,  # remote default <sentinel>\n"
        ") -> float:",
        # `g` is injected by the callee, never part of the fetcher
        "def whoami() -> str:",
        # annotations a client cannot import become Any, with the reason
        "    x: typing.Any,  # daffi-codegen: Any because 'NotDefinedAnywhere': string annotation",
        ") -> typing.Any:  # daffi-codegen: Any because 'AlsoMissing': string annotation 'AlsoMissing'",
        "    thing: typing.Any,  # daffi-codegen: Any because '__main__.LocalThing': LocalThing is defined in the "
        "callee's __main__ script",
    ]
    for text in expected:
        assert text in source, f"{text!r} not in\n{source}"
    assert "__main__" not in source.split("def local_type")[0]  # never imported
    assert "import __main__" not in source
    tree = ast.parse(source)
    functions = [node.name for node in tree.body if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)]
    assert functions == sorted(functions)
    exported = next(
        n
        for n in tree.body
        if isinstance(n, ast.Assign) and isinstance(n.targets[0], ast.Name) and n.targets[0].id == "__all__"
    )
    assert ast.literal_eval(exported.value) == functions
    # each fetcher carries the signature it was made from: @daffi.remote(contract="...")
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
            (decorator,) = node.decorator_list
            assert isinstance(decorator, ast.Call) and ast.unparse(decorator.func) == "daffi.remote"
            (keyword,) = decorator.keywords
            assert keyword.arg == "contract" and isinstance(keyword.value, ast.Constant)
            assert isinstance(keyword.value.value, str)
            assert contract.decode(keyword.value.value).name == node.name
    assert (out / "py.typed").read_text() == ""
    init = (out / "__init__.py").read_text()
    assert init.startswith(MARKER) and f"``stubs.{MODULE}``: node '{NODE}'" in init


def test_generating_twice_gives_identical_bytes(procs: Procs, controller: Where, tmp_path: Path) -> None:
    procs.service(controller, NODE, SERVICE)
    procs.service(controller, "codegen-other", SERVICE)
    first, second = tmp_path / "one" / "stubs", tmp_path / "two" / "stubs"
    for out in (first, second):
        result = codegen(controller, "--wait-process", NODE, "--wait-process", "codegen-other", "--out", str(out))
        assert result.returncode == 0, result.stdout + result.stderr
    generated = files_of(first)
    assert sorted(generated) == ["__init__.py", "codegen_other.py", f"{MODULE}.py", "daffi.lock.json", "py.typed"]
    assert generated == files_of(second)
    # regenerating in place rewrites nothing
    again = codegen(controller, "--out", str(first))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "wrote" not in again.stdout and "removed" not in again.stdout, again.stdout
    assert files_of(first) == generated
