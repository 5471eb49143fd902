"""S4 push: push-worker against the local fake FCM, messages/s per process."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench.sizes import Sizes


def run(sizes: Sizes, workdir: Path) -> dict[str, Any]:
    return {"skipped": "push-worker does not send to FCM on main yet (and the fake FCM has not landed)"}
