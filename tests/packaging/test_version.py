"""One version: daffi-core's ``__about__.py`` and every copy of it agree, and ``bump`` rewrites them all.

packages/daffi-core/src/daffi_core/__about__.py explains why there are copies; tools/release.py
is the script that writes them. These checks read the files themselves (not through the script),
so a place the script forgets shows up here.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.procs import ROOT

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - the suite runs on 3.11+
    tomllib = pytest.importorskip("tomli")

SOURCE = Path("packages/daffi-core/src/daffi_core/__about__.py")
WORKSPACE = {"daffi-core", "daffi-controller", "daffi-node", "daffi-codegen"}
REQUIREMENT = re.compile(r"^\s*([A-Za-z0-9][A-Za-z0-9._-]*)\s*(\[[^\]]*\])?\s*([^;]*)")


def _about(path: Path) -> str:
    match = re.search(r'^__version__ = "([^"]+)"$', path.read_text(encoding="utf-8"), re.MULTILINE)
    assert match, f"no __version__ line in {path}"
    return match.group(1)


def _changelog_latest(root: Path) -> str:
    """The first ``## [X]`` heading of CHANGELOG.md that is not ``[Unreleased]``."""
    for line in (root / "CHANGELOG.md").read_text(encoding="utf-8").splitlines():
        match = re.match(r"^## \[([^\]]+)\]", line)
        if match and match.group(1) != "Unreleased":
            return match.group(1)
    raise AssertionError("CHANGELOG.md has no version section")


def _versions(root: Path) -> dict[str, str]:
    """Every place a version of the four packages is written, and what it says there."""
    found = {str(path.relative_to(root)): _about(path) for path in sorted(root.glob("packages/*/src/*/__about__.py"))}
    for path in sorted(root.glob("packages/*/pyproject.toml")):
        project = tomllib.loads(path.read_text(encoding="utf-8"))["project"]
        requirements = [("dependencies", r) for r in project.get("dependencies", [])]
        for extra, items in project.get("optional-dependencies", {}).items():
            requirements += [(f"optional-dependencies.{extra}", r) for r in items]
        for table, requirement in requirements:
            match = REQUIREMENT.match(requirement)
            assert match, requirement
            name, _, specifier = match.groups()
            if name in WORKSPACE:
                where = f"{path.relative_to(root)} {table} {name}"
                assert specifier.strip().startswith("=="), f"{where}: not an exact pin: {requirement!r}"
                found[where] = specifier.strip()[2:].strip()
    found["CHANGELOG.md"] = _changelog_latest(root)
    return found


def test_every_copy_of_the_version_agrees_with_daffi_core() -> None:
    version = _about(ROOT / SOURCE)
    places = _versions(ROOT)
    assert len([p for p in places if p.endswith("__about__.py")]) == 4, places
    # daffi-controller, daffi-node and daffi-codegen depend on daffi-core; the node's extra on the controller
    assert len([p for p in places if "pyproject.toml" in p]) == 4, places
    wrong = {place: found for place, found in places.items() if found != version}
    assert not wrong, f"daffi-core's __about__.py says {version}; these differ: {wrong}"


def test_each_package_reads_its_version_from_a_file_inside_its_folder() -> None:
    """A wheel built from the sdist alone must find its version: no path leaves the package folder."""
    for folder in sorted((ROOT / "packages").iterdir()):
        config = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))
        assert config["project"]["dynamic"] == ["version"], folder.name
        source = Path(config["tool"]["hatch"]["version"]["path"])
        assert not source.is_absolute() and ".." not in source.parts, (folder.name, source)
        assert source.name == "__about__.py" and (folder / source).is_file(), (folder.name, source)


def test_the_license_is_one_text_in_every_package_folder() -> None:
    text = (ROOT / "LICENSE").read_text(encoding="utf-8")
    assert text.startswith("MIT License") and "Copyright (c) 2026 the daffi developers" in text
    for folder in sorted((ROOT / "packages").iterdir()):
        assert (folder / "LICENSE").read_text(encoding="utf-8") == text, folder.name
        project = tomllib.loads((folder / "pyproject.toml").read_text(encoding="utf-8"))["project"]
        assert project["license"] == "MIT" and project["license-files"] == ["LICENSE"], folder.name


def test_bump_rewrites_every_place_and_opens_the_changelog_section(tmp_path: Path) -> None:
    for path in [
        ROOT / "CHANGELOG.md",
        *ROOT.glob("packages/*/pyproject.toml"),
        *ROOT.glob("packages/*/src/*/__about__.py"),
    ]:
        target = tmp_path / path.relative_to(ROOT)
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(path, target)
    changelog = tmp_path / "CHANGELOG.md"
    text = changelog.read_text(encoding="utf-8")
    changelog.write_text(text.replace("## [Unreleased]\n", "## [Unreleased]\n\n### Fixed\n\n- a bump test entry\n", 1))
    release = [sys.executable, str(ROOT / "tools" / "release.py"), "bump", "--root", str(tmp_path)]

    done = subprocess.run([*release, "9.8.7rc1"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert set(_versions(tmp_path).values()) == {"9.8.7rc1"}, _versions(tmp_path)
    bumped = changelog.read_text(encoding="utf-8")
    # the Unreleased entries now belong to the new version, above the previous one; the links follow
    assert "## [Unreleased]\n\n## [9.8.7rc1] - unreleased\n\n### Fixed\n\n- a bump test entry\n" in bumped
    assert bumped.index("## [9.8.7rc1]") < bumped.index(f"## [{_about(ROOT / SOURCE)}]")
    assert "[Unreleased]: https://github.com/daffi-dev/daffi/compare/v9.8.7rc1...HEAD" in bumped
    assert f"[9.8.7rc1]: https://github.com/daffi-dev/daffi/compare/v{_about(ROOT / SOURCE)}...v9.8.7rc1" in bumped

    # again with a date: only the heading's date changes
    done = subprocess.run([*release, "9.8.7rc1", "--date", "2027-01-31"], capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    assert changelog.read_text(encoding="utf-8") == bumped.replace("[9.8.7rc1] - unreleased", "[9.8.7rc1] - 2027-01-31")

    refused = subprocess.run([*release, "not-a-version"], capture_output=True, text=True, timeout=60)
    assert refused.returncode != 0 and "PEP 440" in refused.stderr
    assert set(_versions(tmp_path).values()) == {"9.8.7rc1"}
