"""Repository tooling: the release tool, the shared process helper (procs.py), nats-server argv (nats_servers.py), the
docs-page filler (pages.py)."""
