"""Scripted answers: what the fake does for a device token (or topic), globally or by rule."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Literal

Kind = Literal[
    "ok",
    "unregistered",
    "invalid_argument",
    "invalid_token",
    "sender_id_mismatch",
    "quota",
    "unavailable",
    "internal",
    "third_party_auth",
    "drop",
    "slow",
]
KINDS: tuple[str, ...] = Kind.__args__  # type: ignore[attr-defined]


@dataclass(frozen=True)
class Behaviour:
    """One scripted answer.

    `times` > 0 fails only that many times per target, then succeeds. `delay_ms` delays any kind
    (`slow` is a delayed `ok`). `retry_after_s` is sent as `Retry-After` on `quota` (429) and, when
    above 0, on `unavailable` (503).
    """

    kind: Kind = "ok"
    times: int = 0
    delay_ms: int = 0
    retry_after_s: int = 1


# Prefix rules that need no set-up, so a benchmark can script 1% of tokens by naming them.
DEFAULT_PREFIX_RULES: dict[str, Behaviour] = {
    "unreg-": Behaviour("unregistered"),
    "invalid-": Behaviour("invalid_argument"),
    "mismatch-": Behaviour("sender_id_mismatch"),
    "quota-": Behaviour("quota", retry_after_s=1),
    # No Retry-After: the SDK's sync path would sleep on it before its own retry.
    "flaky503-": Behaviour("unavailable", times=1, retry_after_s=0),
    "flaky500-": Behaviour("internal", times=1),
    "down503-": Behaviour("unavailable"),
    "slow-": Behaviour("slow", delay_ms=200),
    "drop-": Behaviour("drop"),
    "authfail-": Behaviour("third_party_auth"),
}


@dataclass
class Script:
    """Thread-safe: tests change it from their thread while the fake serves from its own."""

    default: Behaviour = field(default_factory=Behaviour)
    per_target: dict[str, Behaviour] = field(default_factory=dict)
    prefix_rules: dict[str, Behaviour] = field(default_factory=lambda: dict(DEFAULT_PREFIX_RULES))
    failures_seen: dict[str, int] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def set_default(self, behaviour: Behaviour) -> None:
        """The answer for every target that neither a per-target nor a prefix rule scripts."""
        with self.lock:
            self.default = behaviour
            self.failures_seen.clear()

    def set_for(self, target: str, behaviour: Behaviour) -> None:
        """The answer for one device token (or `topic:<name>`); wins over prefix rules."""
        with self.lock:
            self.per_target[target] = behaviour
            self.failures_seen.pop(target, None)

    def set_prefix(self, prefix: str, behaviour: Behaviour) -> None:
        """Every target starting with `prefix` (and not scripted by name) gets `behaviour`."""
        with self.lock:
            self.prefix_rules[prefix] = behaviour

    def reset(self) -> None:
        """All-ok default, no per-target script, the default prefix rules, counts forgotten."""
        with self.lock:
            self.default = Behaviour()
            self.per_target.clear()
            self.prefix_rules = dict(DEFAULT_PREFIX_RULES)
            self.failures_seen.clear()

    def decide(self, target: str) -> Behaviour:
        """The answer for this request; counts down `times` for the target."""
        with self.lock:
            behaviour = self.per_target.get(target)
            if behaviour is None:
                # Checked in insertion order: the first matching prefix wins.
                behaviour = next(
                    (b for prefix, b in self.prefix_rules.items() if target.startswith(prefix)),
                    self.default,
                )
            # One entry per target that ever failed a `times` rule: 1% flaky tokens of a million
            # cost 10k small entries, reset with the script.
            if behaviour.times > 0 and behaviour.kind not in ("ok", "slow"):
                seen = self.failures_seen.get(target, 0)
                if seen >= behaviour.times:
                    return Behaviour()
                self.failures_seen[target] = seen + 1
            return behaviour
