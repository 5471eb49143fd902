"""How notifyctl talks back: results on stdout (text or `--json`), everything else on stderr."""

from __future__ import annotations

import json
import sys
from typing import Any


def out(line: str = "") -> None:
    print(line)


def out_json(value: Any) -> None:
    print(json.dumps(value, indent=2))


def note(message: str) -> None:
    """A line for the operator on stderr (never mixed into stdout, which scripts parse)."""
    print(f"notifyctl: {message}", file=sys.stderr)
