from __future__ import annotations

import itertools
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="session")
def defined_metrics() -> set[str]:
    """Every `nf_` metric name the services and tools declare in their source, with the series
    names Prometheus derives from histograms (`_bucket`, `_sum`, `_count`)."""
    sources = itertools.chain(
        *(ROOT.glob(f"{tree}/**/src/**/*.py") for tree in ("libs", "services", "tools"))
    )
    names = {name for path in sources for name in re.findall(r"\"(nf_[a-z0-9_]+)\"", path.read_text())}
    return names | {f"{name}_{suffix}" for name in names for suffix in ("bucket", "sum", "count")}
