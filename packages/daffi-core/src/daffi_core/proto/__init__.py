"""Generated protobuf modules (``python proto/generate.py``; do not edit)."""
