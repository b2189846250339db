"""Release tasks of the daffi workspace (`hatch run release:build`, `hatch run release:bump X.Y.Z`).

``build [--out DIR]``
    Every distribution's sdist, then its wheel built from that sdist (so each sdist is known to
    build on its own), into DIR (default: dist/ at the repository root). Earlier daffi artifacts
    in DIR are removed first, so ``pip install --find-links DIR`` sees only this version.

``bump X.Y.Z [--date YYYY-MM-DD] [--root DIR]``
    Sets the one version (packages/daffi-core/src/daffi_core/__about__.py, which says why it has
    copies) and rewrites every copy: the other ``__about__.py`` files and the exact pins between
    the packages. In CHANGELOG.md the entries under ``## [Unreleased]`` become the section of
    X.Y.Z (dated ``--date``, else ``unreleased``); when X.Y.Z has a section already, only its
    date changes. ``--root`` works on another checkout (the tests use a copy).
"""

from __future__ import annotations

import argparse
import re
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("daffi-core", "daffi-controller", "daffi-node", "daffi-codegen")
SOURCE = Path("packages/daffi-core/src/daffi_core/__about__.py")
CHANGELOG = Path("CHANGELOG.md")
REPOSITORY = "https://github.com/daffi-dev/daffi"

VERSION_LINE = re.compile(r'^__version__ = "([^"]*)"$', re.MULTILINE)
# An exact pin of a workspace package inside a dependency string: "daffi-core==0.1.0".
PIN = re.compile(r'("daffi-(?:core|controller|node|codegen)(?:\[[^\]]*\])?\s*==\s*)([^\s";,]+)')
# A public PEP 440 version: 1.2.3, 1.2.3rc1, 1.2.3.post1, 1.2.3.dev4.
PUBLIC_VERSION = re.compile(r"^\d+(\.\d+)*((a|b|rc)\d+)?(\.post\d+)?(\.dev\d+)?$")
HEADING = re.compile(r"^## \[([^\]]+)\](.*)$", re.MULTILINE)
UNRELEASED = "Unreleased"


def about_files(root: Path) -> list[Path]:
    return sorted(root.glob("packages/*/src/*/__about__.py"))


def pyproject_files(root: Path) -> list[Path]:
    return sorted(root.glob("packages/*/pyproject.toml"))


def current_version(root: Path = ROOT) -> str:
    match = VERSION_LINE.search((root / SOURCE).read_text(encoding="utf-8"))
    if match is None:
        raise SystemExit(f"no __version__ line in {root / SOURCE}")
    return match.group(1)


def _set_changelog_version(text: str, version: str, date: str | None) -> str:
    headings = list(HEADING.finditer(text))
    existing = next((h for h in headings if h.group(1) == version), None)
    if existing is not None:
        if date is None:
            return text
        return text[: existing.start()] + f"## [{version}] - {date}" + text[existing.end() :]
    unreleased = next((i for i, h in enumerate(headings) if h.group(1) == UNRELEASED), None)
    if unreleased is None:
        raise SystemExit(f"{CHANGELOG} has no '## [{UNRELEASED}]' section to turn into {version}")
    heading = headings[unreleased]
    previous = next((h.group(1) for h in headings[unreleased + 1 :]), None)
    # The Unreleased entries stay where they are and get the new heading above them.
    text = text[: heading.end()] + f"\n\n## [{version}] - {date or 'unreleased'}" + text[heading.end() :]
    # The link references at the bottom: Unreleased compares from the new tag, which gets its own.
    link = re.compile(rf"^\[{UNRELEASED}\]: .*$", re.MULTILINE)
    since = f"{REPOSITORY}/compare/v{previous}...v{version}" if previous else f"{REPOSITORY}/releases/tag/v{version}"
    new_links = f"[{UNRELEASED}]: {REPOSITORY}/compare/v{version}...HEAD\n[{version}]: {since}"
    if link.search(text):
        return link.sub(lambda _: new_links, text, count=1)
    return text.rstrip("\n") + "\n\n" + new_links + "\n"


def bump(version: str, date: str | None = None, root: Path = ROOT) -> list[Path]:
    """Writes ``version`` everywhere it is kept; returns the files that changed."""
    if not PUBLIC_VERSION.match(version):
        raise SystemExit(f"not a public PEP 440 version: {version!r}")
    if date is not None and not re.fullmatch(r"\d{4}-\d{2}-\d{2}", date):
        raise SystemExit(f"--date takes YYYY-MM-DD, not {date!r}")
    changed: list[Path] = []

    def rewrite(path: Path, new: str) -> None:
        if new != path.read_text(encoding="utf-8"):
            path.write_text(new, encoding="utf-8")
            changed.append(path)

    for path in about_files(root):
        text = path.read_text(encoding="utf-8")
        if not VERSION_LINE.search(text):
            raise SystemExit(f"no __version__ line in {path}")
        rewrite(path, VERSION_LINE.sub(f'__version__ = "{version}"', text))
    for path in pyproject_files(root):
        rewrite(path, PIN.sub(lambda m: m.group(1) + version, path.read_text(encoding="utf-8")))
    changelog = root / CHANGELOG
    rewrite(changelog, _set_changelog_version(changelog.read_text(encoding="utf-8"), version, date))
    return changed


def _uv() -> list[str]:
    found = shutil.which("uv")
    return [found] if found else [sys.executable, "-m", "uv"]


def build(out: Path) -> list[Path]:
    """Builds the sdist and wheel of every package into ``out``; returns the eight artifacts."""
    version = current_version()
    out.mkdir(parents=True, exist_ok=True)
    prefixes = tuple(name.replace("-", "_") + "-" for name in PACKAGES)
    for old in out.iterdir():
        if old.name.startswith(prefixes) and old.name.endswith((".whl", ".tar.gz")):
            old.unlink()
    # uv builds the sdist, then the wheel from the unpacked sdist; the four run side by side.
    running = {
        name: subprocess.Popen([*_uv(), "build", "--quiet", "--out-dir", str(out), str(ROOT / "packages" / name)])
        for name in PACKAGES
    }
    failed = [name for name, proc in running.items() if proc.wait() != 0]
    if failed:
        raise SystemExit(f"build failed: {', '.join(failed)}")
    artifacts: list[Path] = []
    for prefix in prefixes:
        for pattern in (f"{prefix}{version}.tar.gz", f"{prefix}{version}-*.whl"):
            found = sorted(out.glob(pattern))
            if len(found) != 1:
                raise SystemExit(f"expected one {pattern} in {out}, found {[p.name for p in found]}")
            artifacts += found
    return artifacts


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="release", description=__doc__.split("\n")[0] if __doc__ else None)
    commands = parser.add_subparsers(dest="command", required=True)
    build_cmd = commands.add_parser("build", help="build every sdist and wheel")
    build_cmd.add_argument("--out", type=Path, default=ROOT / "dist", help="output folder (default: dist/)")
    bump_cmd = commands.add_parser("bump", help="set the version of all four packages")
    bump_cmd.add_argument("version")
    bump_cmd.add_argument("--date", help="the release date of the CHANGELOG section (YYYY-MM-DD)")
    bump_cmd.add_argument("--root", type=Path, default=ROOT, help="the checkout to change (default: this one)")
    args = parser.parse_args(argv)
    if args.command == "build":
        for artifact in build(args.out.resolve()):
            print(artifact)
    else:
        before = current_version(args.root)
        changed = bump(args.version, args.date, args.root)
        print(f"{before} -> {args.version}: {len(changed)} files changed")
        for path in changed:
            print(f"  {path.relative_to(args.root)}")


if __name__ == "__main__":
    main()
