"""Repository tooling: the release tool, the shared process helper (procs.py), the docs-page filler (pages.py)."""
