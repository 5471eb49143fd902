"""Results on disk (one JSON per scenario, latest.json), the latency plot and the printed table."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path
from typing import Any

from bench.targets import TARGETS

CURVE_KEYS = ("latency_curve", "last_client_curve", "catchup_curve")


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


def write_latest(
    path: Path, results: dict[str, dict[str, Any]], meta: dict[str, Any], keep: tuple[str, ...] = ()
) -> None:
    """A full run's latest.json; the scenarios in `keep` (run only when named) stay from the
    previous file when this run did not measure them."""
    old: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    kept = {name: old[name] for name in keep if name in old and name not in results}
    path.parent.mkdir(parents=True, exist_ok=True)
    body = {**meta, **{name: without_curves(r) for name, r in results.items()}, **kept}
    path.write_text(json.dumps(body, indent=2) + "\n")


def merge_latest(path: Path, results: dict[str, dict[str, Any]], meta: dict[str, Any]) -> None:
    """Replace only these scenarios in latest.json; each carries its own run's commit and load
    (`run`), as the file's top names the run the other scenarios come from."""
    body: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    run: dict[str, Any] = {k: meta[k] for k in ("measured_at", "commit", "dirty", "size") if k in meta}
    run["loadavg_before"] = meta["machine"]["loadavg"]
    run["loadavg_after"] = meta.get("loadavg_after")
    run["note"] = f"{', '.join(results)} alone (python -m bench --scenarios {','.join(results)} --record)"
    for name, result in results.items():
        body[name] = {**without_curves(result), "run": run}
    path.parent.mkdir(parents=True, exist_ok=True)
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
    """HDR-style percentile plots (latency against 1/(1-quantile) on a log axis) and, when S7 ran,
    its p99 and fleet CPU per notification against the offered rate."""
    series = [
        ("S1 unicast: publish-to-receive", lookup(results, "s1.latency_curve")),
        ("S2 broadcast: each delivery", lookup(results, "s2.latency_curve")),
        ("S2 broadcast: last client per broadcast", lookup(results, "s2.last_client_curve")),
    ]
    series = [(label, curve) for label, curve in series if curve]
    steps = [step for step in lookup(results, "s7.steps") or [] if step.get("delivered")]
    if not series and not steps:
        return
    import matplotlib

    matplotlib.use("Agg")  # files only: no display here, and the backend must be chosen before pyplot
    import matplotlib.pyplot as plt

    panels = int(bool(series)) + int(bool(steps))
    fig, axes = plt.subplots(1, panels, figsize=(9 * panels, 5), squeeze=False)
    free = list(axes[0])
    if series:
        _percentiles(free.pop(0), series)
    if steps:
        _saturation(free.pop(0), steps, float(lookup(results, "s7.held_p99_ms")))
    fig.suptitle(title)
    fig.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    fig.savefig(path, dpi=100)
    plt.close(fig)


def _percentiles(ax: Any, series: list[tuple[str, Any]]) -> None:
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
    ax.set_title("latency percentiles")


def _saturation(ax: Any, steps: list[dict[str, Any]], held_p99_ms: float) -> None:
    from matplotlib.ticker import ScalarFormatter

    rates = [step["rate_per_s"] for step in steps]
    p99s = [step["p99_ms"] for step in steps]
    lines = ax.plot(rates, p99s, marker="o", label="p99 publish-to-receive")
    lines += [ax.axhline(held_p99_ms, color="grey", linestyle="--", label=f"p99 limit {held_p99_ms:g} ms")]
    ax.set_xscale("log", base=2)
    ax.set_xticks(rates, [f"{r:,}" for r in rates])
    ax.set_xlim(rates[0] / 1.3, rates[-1] * 1.3)
    ax.set_yscale("log")
    ax.set_ylim(min([*p99s, held_p99_ms]) / 2, max([*p99s, held_p99_ms]) * 8)  # headroom for the legend
    ax.yaxis.set_major_formatter(ScalarFormatter())
    ax.set_xlabel("unicast events/s offered (S7 step)")
    ax.set_ylabel("p99 latency (ms, log scale)")
    ax.grid(True, which="both", alpha=0.3)
    cpu = ax.twinx()
    cpu_us = [step["fleet_cpu_us_per_notification"] for step in steps]
    lines += cpu.plot(rates, cpu_us, marker="s", color="tab:orange", label="fleet CPU per notification")
    cpu.set_ylabel("fleet CPU (µs per notification)")
    cpu.set_ylim(0, max(cpu_us) * 1.6)
    ax.legend(lines, [line.get_label() for line in lines], loc="upper left")
    ax.set_title("S7 saturation: whole fleet, unicast")
