"""Results on disk (one JSON per scenario, latest.json), the latency plot and the printed table."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from bench.targets import TARGETS

CURVE_KEYS = ("latency_curve", "last_client_curve")


def lookup(results: dict[str, Any], dotted: str) -> Any:
    node: Any = results
    for part in dotted.split("."):
        if not isinstance(node, dict) or part not in node:
            return None
        node = node[part]
    return node


def without_curves(result: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in result.items() if k not in CURVE_KEYS}


def write_scenarios(out_dir: Path, results: dict[str, dict[str, Any]], meta: dict[str, Any]) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    for name, result in results.items():
        (out_dir / f"{name}.json").write_text(json.dumps({**meta, name: result}, indent=2) + "\n")


def git_commit(repo: Path) -> dict[str, Any]:
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=repo, capture_output=True, text=True, check=False).stdout

    changed = [line for line in git("status", "--porcelain").splitlines() if "bench/results/" not in line]
    return {"commit": git("rev-parse", "HEAD").strip(), "dirty": bool(changed)}


def write_latest(path: Path, results: dict[str, dict[str, Any]], meta: dict[str, Any]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {**meta, **{name: without_curves(r) for name, r in results.items()}}
    path.write_text(json.dumps(body, indent=2) + "\n")


def table(results: dict[str, dict[str, Any]]) -> str:
    rows = [("figure", "target", "measured", "", "reference (same machine)")]
    for t in TARGETS:
        scenario = t.key.split(".", 1)[0]
        measured = lookup(results, t.key)
        target = f"{t.op} {t.value:g}" if t.value is not None else "-"
        if scenario not in results:
            continue
        if measured is None:
            reason = results[scenario].get("skipped") or _skip_reason(results[scenario], t.key) or "n/a"
            rows.append((t.key, target, "skipped", "", reason[:70]))
            continue
        verdict = "" if t.value is None else ("ok" if t.met(float(measured)) else "MISSED")
        rows.append((t.key, target, f"{measured:g}", verdict, t.reference))
    widths = [max(len(r[i]) for r in rows) for i in range(4)]
    lines = [
        "  ".join(cell.ljust(w) for cell, w in zip(r[:4], widths, strict=False)) + "  " + r[4] for r in rows
    ]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def _skip_reason(result: dict[str, Any], key: str) -> str | None:
    field = key.split(".", 1)[1]
    for candidate in (field.replace("_rows_per_s", "_skipped"), field.split("_", 1)[0] + "_skipped"):
        if isinstance(result.get(candidate), str):
            return str(result[candidate])
    return None


def plot(path: Path, results: dict[str, dict[str, Any]], title: str) -> None:
    """HDR-style percentile plots: latency against 1/(1-quantile) on a log axis."""
    series = [
        ("S1 unicast: publish-to-receive", lookup(results, "s1.latency_curve")),
        ("S2 broadcast: each delivery", lookup(results, "s2.latency_curve")),
        ("S2 broadcast: last client per broadcast", lookup(results, "s2.last_client_curve")),
    ]
    series = [(label, curve) for label, curve in series if curve]
    if not series:
        return
    import matplotlib

    matplotlib.use("Agg")  # files only: no display here, and the backend must be chosen before pyplot
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(9, 5))
    for label, (qs, ms) in series:
        xs = [1 / (1 - q) if q < 1 else 1e4 for q in qs]
        ax.plot(xs, ms, label=label)
    ax.set_xscale("log")
    ax.set_yscale("log")  # S1 (ms) and S2 (hundreds of ms) on one readable axis
    ticks = [1, 2, 10, 100, 1000, 10_000]
    ax.set_xticks(ticks, ["p0", "p50", "p90", "p99", "p99.9", "p99.99"])
    ax.set_ylabel("latency (ms, log scale)")
    ax.set_xlabel("percentile")
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
    ax.set_title(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)
