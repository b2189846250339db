"""The node scripts the scenarios start (``python -m chaos.nodes.NAME``)."""
