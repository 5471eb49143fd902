from __future__ import annotations

import sys
from pathlib import Path

# Tests import their shared helpers (push_testkit) by name; pytest's importlib mode does not.
sys.path.insert(0, str(Path(__file__).parent))
