"""Distributions keep their boundaries: a service installs only the node, the controller never sees dill.

Each test builds real virtual environments from the package folders (with uv) and runs
the controller from one and service nodes from the other.
"""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.procs import ROOT, Procs, Where, free_port

PACKAGES = ROOT / "packages"
UV = shutil.which("uv") or str(Path(sys.executable).parent / "uv")


def _venv(path: Path, *packages: str) -> Path:
    subprocess.run([UV, "venv", "-q", "--python", sys.executable, str(path)], check=True, timeout=120)
    python = path / "bin" / "python"
    folders = [str(PACKAGES / p) for p in packages]
    subprocess.run([UV, "pip", "install", "-q", "--python", str(python), *folders], check=True, timeout=600)
    return python


@pytest.fixture(scope="module")
def venvs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, Path]]:
    root = tmp_path_factory.mktemp("venvs")
    controller = _venv(root / "controller", "daffi-core", "daffi-controller", "daffi-codegen")
    node = _venv(root / "node", "daffi-core", "daffi-node")
    yield controller, node


def _imports(python: Path, module: str) -> bool:
    return subprocess.run([str(python), "-c", f"import {module}"], capture_output=True, timeout=60).returncode == 0


def test_controller_environment_has_no_dill_and_no_node(venvs: tuple[Path, Path]) -> None:
    controller, _ = venvs  # with daffi-codegen installed too: it needs no dill either
    assert _imports(controller, "daffi_controller")
    assert _imports(controller, "daffi_codegen")
    assert not _imports(controller, "dill")
    assert not _imports(controller, "daffi")


def test_node_environment_has_no_controller(venvs: tuple[Path, Path]) -> None:
    _, node = venvs
    assert _imports(node, "daffi")
    assert not _imports(node, "daffi_controller")


def test_init_controller_without_the_package_says_what_to_install(venvs: tuple[Path, Path]) -> None:
    _, node = venvs
    result = subprocess.run(
        [str(node), "-c", "from daffi import Global; Global(init_controller=True, host='127.0.0.1', port=1)"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode != 0
    assert "InitializationError" in result.stderr
    assert "pip install daffi-node[controller]" in result.stderr


def test_service_node_calls_through_a_standalone_controller(venvs: tuple[Path, Path], procs: Procs) -> None:
    controller, node = venvs
    where = Where(host="127.0.0.1", port=free_port())
    procs.spawn(str(controller.parent / "daffi-controller"), *where.argv).wait_line("ready on")
    procs.spawn(str(node), str(ROOT / "tests" / "services" / "service.py"), "--name", "svc", *where.argv).wait_line(
        "READY svc"
    )
    client = procs.spawn(
        str(node),
        "-c",
        "from daffi import Global, FG\n"
        f"with Global(process_name='client', host='127.0.0.1', port={where.port}) as g:\n"
        "    print('SUM', g.call.add(20, 22) & FG)\n",
    )
    client.wait_line("SUM 42")
    assert client.wait(30) == 0
    listing = subprocess.run(
        [str(controller.parent / "daffi-codegen"), *where.argv, "--list"], capture_output=True, text=True, timeout=60
    )
    assert listing.returncode == 0, listing.stderr
    assert "def add(a: int, b: int) -> int" in listing.stdout


def _imported_modules(root: Path) -> dict[str, set[str]]:
    """Top-level modules each file under ``root`` imports (absolute imports)."""
    found: dict[str, set[str]] = {}
    for path in root.rglob("*.py"):
        names = found.setdefault(path.name, set())
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.Import):
                names.update(alias.name.split(".")[0] for alias in node.names)
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                names.add(node.module.split(".")[0])
    return found


def test_controller_core_and_codegen_never_import_dill_pickle_or_the_node() -> None:
    for package in ("daffi-controller", "daffi-core", "daffi-codegen"):
        imported = set().union(*_imported_modules(PACKAGES / package / "src").values())
        assert not imported & {"dill", "pickle", "daffi"}, (package, imported)


def test_only_one_node_module_imports_dill() -> None:
    files = _imported_modules(PACKAGES / "daffi-node" / "src" / "daffi")
    assert [name for name, imported in files.items() if "dill" in imported] == ["_serde.py"]


# Each package's modules, lowest layer first: a module imports only from its own layer or below
# (TYPE_CHECKING and function-level imports included), and the imports inside a layer form no cycle.
LAYERS: dict[str, list[set[str]]] = {
    "daffi-node/src/daffi": [
        # leaves: values, serialization, the registry and catalog, threads, the loop runtime
        {"__about__", "_args", "_bridge", "_catalog", "_contract", "_credit", "_durations", "_errors", "_modifiers"}
        | {"_registry", "_runtime", "_scheduler", "_serde", "_wire", "_workers"}
        # what watches calls (Observer), and its two kinds: the node's counters and its spans
        | {"_observe", "_metrics", "_tracing"}
        # what a NATS node keeps in place of a controller: the other nodes, the calls between them
        | {"_nats_peers"},
        # one connection to the controller (or, NATS, to the server) behind `Link`
        {"_link", "_grpc_link", "_socket_link", "_nats_link"},
        {"_caller", "_callee"},  # calls out and calls in, on a Link
        {"_node"},  # the assembly and the process-wide current node
        {"_v1"},  # the daffi 1.x spellings, onto the mechanism below and above
        {"_execute", "_results"},  # a modifier applied to a fetcher, and what it returns
        {"_decorators", "_typed", "_global", "__init__"},  # the public API
        # daffi 1.x's module paths, aliases of the public API
        {"async_result", "decorators", "exceptions", "execution_modifiers", "globals", "remote_call"},
    ],
    "daffi-controller/src/daffi_controller": [
        {"__about__", "config", "registry", "stats"},
        {"router"},
        {"switchboard"},  # what every front shares: hello, join, leave, routing
        {"grpc_service", "socket_service"},  # the fronts, one per transport
        {"metrics"},  # the counters served as Prometheus families
        {"server"},
        {"inspection"},  # what `daffi-controller inspect` prints
        {"cli", "__main__", "__init__"},
    ],
}


def _module_imports(package: Path) -> dict[str, set[str]]:
    """The sibling modules each module of ``package`` imports, wherever the import statement is."""
    name = package.name
    graph: dict[str, set[str]] = {}
    for path in package.glob("*.py"):
        found = graph.setdefault(path.stem, set())
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if isinstance(node, ast.ImportFrom):
                parts = (node.module or "").split(".")
                if node.level == 1:
                    found.update([parts[0]] if parts[0] else [alias.name for alias in node.names])
                elif node.level == 0 and parts[0] == name:
                    found.update([parts[1]] if len(parts) > 1 else [alias.name for alias in node.names])
            elif isinstance(node, ast.Import):
                found.update(a.name.split(".")[1] for a in node.names if a.name.startswith(name + "."))
    return {module: {m for m in imported if m in graph} - {module} for module, imported in graph.items()}


@pytest.mark.parametrize("package", sorted(LAYERS))
def test_imports_go_down_the_layers(package: str) -> None:
    graph = _module_imports(PACKAGES / package)
    layer_of = {module: i for i, layer in enumerate(LAYERS[package]) for module in layer}
    assert set(graph) == set(layer_of), "every module is in exactly one layer of the table"
    upward = sorted((m, t) for m, imported in graph.items() for t in imported if layer_of[t] > layer_of[m])
    assert not upward, f"upward imports (module, imported): {upward}"
    state: dict[str, int] = {}  # 1 visiting, 2 done: a depth-first search for a cycle

    def visit(module: str, path: list[str]) -> None:
        state[module] = 1
        for target in graph[module]:
            assert state.get(target) != 1, f"import cycle: {' -> '.join([*path, module, target])}"
            if target not in state:
                visit(target, [*path, module])
        state[module] = 2

    for module in sorted(graph):
        if module not in state:
            visit(module, [])
