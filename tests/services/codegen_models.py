"""User types for tests/services/codegen_service.py: codegen imports them by this module's name."""

from __future__ import annotations

import enum
from dataclasses import dataclass


@dataclass(frozen=True)
class Point:
    x: float
    y: float


class Color(enum.Enum):
    RED = "red"
    GREEN = "green"
