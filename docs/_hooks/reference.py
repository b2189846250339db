"""mkdocs hook: the reference pages (docs/reference/) stay true to the code.

* ``--help`` blocks: a page marks one with ``<!-- help: COMMAND -->`` on the line before a
  ```` ```text ```` fence. The build runs ``python -m MODULE --help`` (80 columns, no colour),
  renders that output, and warns when the committed block says something else, so
  ``mkdocs build --strict`` fails until the page is updated (the committed block is what GitHub
  shows). Line wrapping alone is not a difference: argparse wraps differently across Pythons.
  ``python docs/_hooks/reference.py`` rewrites the blocks of every page from the commands.
* ``reference/daffi.md`` documents exactly ``daffi.__all__``: one ``::: daffi.NAME`` per name;
  a public name without its entry, or an entry for a name that is no longer public, warns.
"""

from __future__ import annotations

import json
import logging
import os
import re
import subprocess
import sys
from pathlib import Path
from typing import Any

log = logging.getLogger("mkdocs.plugins.daffi.reference")

#: The commands a page may show (a subcommand too), and what runs each with ``python -m``.
COMMANDS = {
    "daffi-controller": ["daffi_controller"],
    "daffi-controller inspect": ["daffi_controller", "inspect"],
    "daffi-codegen": ["daffi_codegen"],
}
HELP_BLOCK = re.compile(r"<!-- help: (?P<command>[\w-]+(?: [\w-]+)*) -->\n```text\n(?P<body>.*?)```\n", re.S)
#: The page that lists every public name of ``daffi``, and how it names one.
API_PAGE = "reference/daffi.md"
API_ENTRY = re.compile(r"^::: daffi\.(\w+)\s*$", re.M)


def _python(*args: str) -> str:
    env = dict(os.environ, COLUMNS="80", NO_COLOR="1", PYTHON_COLORS="0")
    env.pop("FORCE_COLOR", None)
    done = subprocess.run([sys.executable, *args], capture_output=True, text=True, env=env, timeout=120, check=True)
    return done.stdout


def command_help(command: str) -> str:
    return _python("-m", *COMMANDS[command], "--help")


def refresh_help(markdown: str, where: str, warn: bool) -> str:
    def replace(match: re.Match[str]) -> str:
        command = match["command"]
        if command not in COMMANDS:
            log.warning("%s: no command %r to take --help from (known: %s)", where, command, ", ".join(COMMANDS))
            return match[0]
        actual = command_help(command)
        if warn and actual.split() != match["body"].split():
            log.warning(
                "%s: the `%s --help` block is stale; update it with `python docs/_hooks/reference.py`",
                where,
                command,
            )
        return f"<!-- help: {command} -->\n```text\n{actual}```\n"

    return HELP_BLOCK.sub(replace, markdown)


def check_api_entries(markdown: str, where: str) -> None:
    public = set(json.loads(_python("-c", "import daffi, json; print(json.dumps(daffi.__all__))")))
    entries = set(API_ENTRY.findall(markdown))
    if missing := sorted(public - entries):
        log.warning("%s: daffi.__all__ names without a `::: daffi.NAME` entry: %s", where, ", ".join(missing))
    if stale := sorted(entries - public):
        log.warning("%s: entries for names not in daffi.__all__: %s", where, ", ".join(stale))


def on_page_markdown(markdown: str, page: Any, **kwargs: Any) -> str:
    where = page.file.src_uri
    if where == API_PAGE:
        check_api_entries(markdown, where)
    return refresh_help(markdown, where, warn=True)


if __name__ == "__main__":
    for path in sorted(Path(__file__).resolve().parents[1].rglob("*.md")):
        text = path.read_text()
        fresh = refresh_help(text, str(path), warn=False)
        if fresh != text:
            path.write_text(fresh)
            print(f"updated {path}")
