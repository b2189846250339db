"""The built distributions work as published: wheels installed by role into fresh environments call each other.

``tools/release.py build`` (what ``hatch run release:build`` runs) builds the four sdists and the
wheels built from them once per module; each role gets its own virtual environment (uv) with
``uv pip install --find-links <wheels>``, so ``daffi-node[controller]`` finds daffi-controller
in the folder like a user's ``pip install --find-links dist``. test_boundaries.py does the same
from the source folders.
"""

from __future__ import annotations

import glob
import json
import re
import shutil
import subprocess
import sys
import tarfile
import zipfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from tests.packaging.test_boundaries import UV
from tests.support.procs import ROOT, SERVICES, Procs, Where, free_port

# Cold caches download hatchling and the third-party wheels for every interpreter: allow for it.
pytestmark = pytest.mark.timeout(300)

ABOUT = (ROOT / "packages/daffi-core/src/daffi_core/__about__.py").read_text(encoding="utf-8")
VERSION = ABOUT.split('__version__ = "', 1)[1].split('"', 1)[0]
PACKAGES = ("daffi-core", "daffi-controller", "daffi-node", "daffi-codegen")
# role -> what the user installs, and the daffi distributions that must end up installed
ROLES: dict[str, tuple[str, set[str]]] = {
    "node": ("daffi-node", {"daffi-core", "daffi-node"}),
    "controller": ("daffi-controller", {"daffi-core", "daffi-controller"}),
    "both": ("daffi-node[controller]", {"daffi-core", "daffi-node", "daffi-controller"}),
    "codegen": ("daffi-codegen", {"daffi-core", "daffi-codegen"}),
}
# Other interpreters of requires-python get a node-only environment each, when installed here.
OTHER_MINORS = [minor for minor in (10, 11, 12, 13) if minor != sys.version_info.minor]
MODULES = ("daffi", "daffi_controller", "daffi_codegen", "daffi_core", "dill")

# What each environment has: importable modules, and the RECORD of each installed daffi distribution.
PROBE = """
import importlib, importlib.metadata as md, json, sys
imports = {}
for name in sys.argv[1:]:
    try:
        importlib.import_module(name)
        imports[name] = True
    except ImportError:
        imports[name] = False
records = {d.metadata["Name"]: d.read_text("RECORD") or "" for d in md.distributions()
           if d.metadata["Name"].startswith("daffi-")}
print(json.dumps({"imports": imports, "records": records, "python": list(sys.version_info[:2])}))
"""


def _stem(package: str) -> str:
    return f"{package.replace('-', '_')}-{VERSION}"


def _interpreter(minor: int) -> str | None:
    """A working ``python3.<minor>``: on PATH, else a pyenv installation; None when there is none."""
    candidates = [shutil.which(f"python3.{minor}")]
    candidates += sorted(glob.glob(str(Path.home() / f".pyenv/versions/3.{minor}.*/bin/python3.{minor}")))
    for candidate in candidates:
        if candidate is None:
            continue
        check = f"import sys; sys.exit(sys.version_info[:2] != (3, {minor}))"
        if subprocess.run([candidate, "-c", check], capture_output=True, timeout=30).returncode == 0:
            return candidate
    return None


def _venv(path: Path, python: str, wheels: Path, requirement: str) -> Path:
    """A fresh environment with ``requirement`` (pinned to this version) from the wheel folder."""
    subprocess.run([UV, "venv", "-q", "--python", python, str(path)], check=True, timeout=120)
    interpreter = path / "bin" / "python"
    install = [UV, "pip", "install", "-q", "--python", str(interpreter), "--find-links", str(wheels)]
    subprocess.run([*install, f"{requirement}=={VERSION}"], check=True, timeout=600)
    return interpreter


@pytest.fixture(scope="module")
def wheels(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("dist")
    build = [sys.executable, str(ROOT / "tools" / "release.py"), "build", "--out", str(out)]
    subprocess.run(build, check=True, timeout=240, capture_output=True)
    return out


@pytest.fixture(scope="module")
def venvs(wheels: Path, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    """One environment per role, plus ``node-3.<minor>`` for every other interpreter found; built side by side."""
    root = tmp_path_factory.mktemp("venvs")
    jobs = {role: (sys.executable, requirement) for role, (requirement, _) in ROLES.items()}
    for minor in OTHER_MINORS:
        python = _interpreter(minor)
        if python is not None:
            jobs[f"node-3.{minor}"] = (python, "daffi-node")
    with ThreadPoolExecutor(max_workers=4) as pool:
        futures = {name: pool.submit(_venv, root / name, python, wheels, req) for name, (python, req) in jobs.items()}
        return {name: future.result() for name, future in futures.items()}


@pytest.fixture(scope="module")
def probes(venvs: dict[str, Path]) -> dict[str, dict[str, object]]:
    def probe(python: Path) -> dict[str, object]:
        done = subprocess.run([str(python), "-c", PROBE, *MODULES], capture_output=True, text=True, timeout=60)
        assert done.returncode == 0, done.stderr
        return json.loads(done.stdout)  # type: ignore[no-any-return]

    with ThreadPoolExecutor(max_workers=2) as pool:
        return dict(zip(venvs, pool.map(probe, venvs.values()), strict=True))


@pytest.fixture(scope="module")
def cluster(venvs: dict[str, Path], tmp_path_factory: pytest.TempPathFactory) -> Iterator[Where]:
    """A controller from the controller-only environment and a callee ``svc`` from the node-only one."""
    procs = Procs(tmp_path_factory.mktemp("cluster"))
    try:
        where = Where(host="127.0.0.1", port=free_port())
        procs.spawn(str(venvs["controller"].parent / "daffi-controller"), *where.argv).wait_line("ready on")
        callee = procs.spawn(str(venvs["node"]), str(SERVICES / "service.py"), "--name", "svc", *where.argv)
        callee.wait_line("READY svc")
        yield where
    finally:
        procs.close()


def _caller(where: Where, name: str) -> str:
    """A script that calls ``add`` on ``svc`` and prints ``SUM <result> <python version>``."""
    return (
        "import sys\n"
        "from daffi import Global, FG\n"
        f"with Global(process_name={name!r}, **{where.kwargs!r}) as g:\n"
        "    g.wait_process('svc', timeout=20)\n"
        "    print('SUM', g.call.add(20, 22) & FG, '%d.%d' % sys.version_info[:2])\n"
    )


def test_every_wheel_and_sdist_carries_the_license_and_the_version(wheels: Path) -> None:
    license_text = (ROOT / "LICENSE").read_bytes()
    assert sorted(p.name for p in wheels.iterdir() if not p.name.startswith(".")) == sorted(
        [f"{_stem(p)}-py3-none-any.whl" for p in PACKAGES] + [f"{_stem(p)}.tar.gz" for p in PACKAGES]
    )
    for package in PACKAGES:
        stem = _stem(package)
        with zipfile.ZipFile(wheels / f"{stem}-py3-none-any.whl") as wheel:
            assert wheel.read(f"{stem}.dist-info/licenses/LICENSE") == license_text, package
            metadata = wheel.read(f"{stem}.dist-info/METADATA").decode()
        assert f"\nVersion: {VERSION}\n" in metadata and "\nLicense-Expression: MIT\n" in metadata, package
        assert "\nLicense-File: LICENSE\n" in metadata and "\nProject-URL: Changelog, " in metadata, package
        pins = re.findall(r"^Requires-Dist: (daffi-[a-z]+)(.*)$", metadata, re.MULTILINE)
        assert all(rest.startswith(f"=={VERSION}") for _, rest in pins), (package, pins)
        with tarfile.open(wheels / f"{stem}.tar.gz") as sdist:
            member = sdist.extractfile(f"{stem}/LICENSE")
            assert member is not None and member.read() == license_text, package
            assert {f"{stem}/pyproject.toml", f"{stem}/README.md", f"{stem}/PKG-INFO"} <= set(sdist.getnames())


@pytest.mark.parametrize("role", sorted(ROLES))
def test_each_role_has_exactly_its_packages_from_these_wheels(
    role: str, wheels: Path, probes: dict[str, dict[str, object]]
) -> None:
    found = probes[role]
    records = found["records"]
    assert isinstance(records, dict)
    assert set(records) == ROLES[role][1]
    for name, record in records.items():
        # the installed files are those of the wheel in the folder, not of some other build of this version
        with zipfile.ZipFile(wheels / f"{_stem(name)}-py3-none-any.whl") as wheel:
            packaged = {line for line in wheel.read(f"{_stem(name)}.dist-info/RECORD").decode().splitlines()}
        payload = {line for line in packaged if line and ".dist-info/" not in line.split(",")[0]}
        assert payload, (role, name)
        assert payload <= set(record.splitlines()), (role, name, payload - set(record.splitlines()))
    imports = found["imports"]
    expected = {
        "node": {"daffi", "daffi_core", "dill"},
        "controller": {"daffi_controller", "daffi_core"},
        "both": {"daffi", "daffi_controller", "daffi_core", "dill"},
        "codegen": {"daffi_codegen", "daffi_core"},
    }[role]
    assert isinstance(imports, dict)
    assert {module for module, ok in imports.items() if ok} == expected, imports


def test_a_caller_reaches_a_callee_through_a_standalone_controller(cluster: Where, venvs: dict[str, Path]) -> None:
    """controller-only, node-only and node+controller environments in one call; codegen lists it."""
    caller = subprocess.run(
        [str(venvs["both"]), "-c", _caller(cluster, "caller")], capture_output=True, text=True, timeout=60
    )
    assert caller.returncode == 0, caller.stdout + caller.stderr
    assert "SUM 42 " in caller.stdout
    listing = subprocess.run(
        [str(venvs["codegen"].parent / "daffi-codegen"), *cluster.argv, "--list"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert listing.returncode == 0, listing.stderr
    assert "def add(a: int, b: int) -> int" in listing.stdout


def test_the_controller_extra_hosts_the_controller_in_a_node(venvs: dict[str, Path], procs: Procs) -> None:
    """``daffi-node[controller]`` runs ``Global(init_controller=True)``; a node-only process calls it
    over the socket transport (uvloop from the wheels' dependencies)."""
    where = Where(host="127.0.0.1", port=free_port(), transport="socket")
    host = procs.spawn(str(venvs["both"]), str(SERVICES / "service.py"), "--name", "svc", "--controller", *where.argv)
    host.wait_line("READY svc")
    caller = procs.spawn(str(venvs["node"]), "-c", _caller(where, "caller"))
    caller.wait_line("SUM 42 ")
    assert caller.wait(30) == 0


@pytest.mark.parametrize("minor", OTHER_MINORS, ids=[f"py3.{m}" for m in OTHER_MINORS])
def test_a_node_on_another_python_calls_through_the_wheels(
    minor: int, cluster: Where, venvs: dict[str, Path], probes: dict[str, dict[str, object]]
) -> None:
    name = f"node-3.{minor}"
    if name not in venvs:
        pytest.skip(f"no python3.{minor} on this machine")
    assert probes[name]["python"] == [3, minor]
    caller = subprocess.run(
        [str(venvs[name]), "-c", _caller(cluster, f"caller-3-{minor}")], capture_output=True, text=True, timeout=60
    )
    assert caller.returncode == 0, caller.stdout + caller.stderr
    assert f"SUM 42 3.{minor}" in caller.stdout
