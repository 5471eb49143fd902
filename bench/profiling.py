"""Optional py-spy sampling of the gateway and router while a scenario runs (`--profile`).

py-spy attaches to the running service from outside (no code change, --nonblocking so the
service is not paused); the collapsed stacks are summarised into top self and inclusive costs.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

PROFILED = ("gateway-1", "router")
RATE_HZ = 200
_LINE_NO = re.compile(r":\d+\)$")


def py_spy() -> str | None:
    """The py-spy binary next to this interpreter, or on PATH."""
    beside = Path(sys.executable).parent / "py-spy"
    return str(beside) if beside.exists() else shutil.which("py-spy")


@dataclass
class Profiler:
    out_dir: Path | None
    """Where profiles go; None disables profiling."""
    summaries: dict[str, dict[str, list[tuple[str, float]]]] = field(default_factory=dict)

    @contextmanager
    def attach(
        self, scenario: str, pids: dict[str, int], seconds: float, names: tuple[str, ...] = PROFILED
    ) -> Iterator[None]:
        binary = py_spy()
        if self.out_dir is None or binary is None:
            yield
            return
        self.out_dir.mkdir(parents=True, exist_ok=True)
        running: dict[str, tuple[subprocess.Popen[bytes], Path]] = {}
        for name in names:
            if name not in pids:
                continue
            out = self.out_dir / f"{scenario}-{name}.collapsed.txt"
            cmd = [binary, "record", "--pid", str(pids[name]), "--duration", str(max(1, int(seconds)))]
            cmd += ["--rate", str(RATE_HZ), "--format", "raw", "--nonblocking", "--output", str(out)]
            proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            running[name] = (proc, out)
        try:
            yield
        finally:
            for name, (proc, out) in running.items():
                try:
                    proc.wait(timeout=seconds + 30)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()
                if out.exists():
                    summary = summarise(out.read_text())
                    self.summaries[f"{scenario}:{name}"] = summary
                    (self.out_dir / f"{scenario}-{name}.top.txt").write_text(render(summary))


def summarise(collapsed: str, top: int = 15) -> dict[str, list[tuple[str, float]]]:
    """Top frames by self time and by inclusive time, as percentages of busy samples."""
    own: Counter[str] = Counter()
    inclusive: Counter[str] = Counter()
    total = 0
    for line in collapsed.splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = [_LINE_NO.sub(")", f) for f in stack.split(";")]
        total += count
        own[frames[-1]] += count
        for frame in set(frames):
            inclusive[frame] += count
    if total == 0:
        return {"self": [], "inclusive": []}

    def pct(c: Counter[str]) -> list[tuple[str, float]]:
        return [(frame, round(100 * n / total, 1)) for frame, n in c.most_common(top)]

    return {"self": pct(own), "inclusive": pct(inclusive), "samples": [("total", float(total))]}


def render(summary: dict[str, list[tuple[str, float]]]) -> str:
    lines = []
    for kind in ("self", "inclusive"):
        lines.append(f"top by {kind} time (% of busy samples)")
        lines += [f"  {p:5.1f}%  {frame}" for frame, p in summary.get(kind, [])]
    return "\n".join(lines) + "\n"
