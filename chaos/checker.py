"""The checker: every published notification accounted for, per recipient, from what clients saw.

Rules (docs/reliability.md):
- every valid published notification is stored in history, with an inbox row for each user it
  addressed (broadcasts are stored once, per room);
- every recipient received it on a socket (live or by catch-up), or it was pushed to the
  recipient's device (the fake FCM's log), or it is in the dead-letter stream with a reason;
  anything else is lost;
- a recipient whose client held one connection for the whole run must have received it on
  that socket: a push, or a push-worker's dead letter (no device), means the fleet took a
  connected user for offline; only the router's own drops (rate limit, preferences) excuse it;
- an invalid event is dead-lettered with a reason by every group that reads ingress;
- a client that saw an id twice saw a duplicate that is detectable by id; a notification frame
  without an id would be an undetectable duplicate and counts as such;
- on a client's first connection (live delivery only, no catch-up), first sightings arrive in the
  order the events entered ingress; after a reconnect, catch-up and live frames may interleave
  (docs/architecture.md: clients that need strict order sort by `created_ms`).
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from notify_common.stream_ids import id_key

from chaos.clients import ClientLog
from chaos.workload import Published

INGRESS_GROUPS = ("router", "history")


@dataclass(frozen=True, slots=True)
class DeadLetterView:
    """One dead letter reduced to what the checker needs."""

    group: str
    reason: str
    notification_id: str | None
    user_ids: tuple[str, ...]


@dataclass
class Verdict:
    scenario: str
    events: int = 0
    recipients: int = 0
    delivered: int = 0
    pushed: int = 0
    dead_lettered: int = 0
    dead_lettered_invalid: int = 0
    """Of dead_lettered: invalid events (the rest are recipients of valid ones)."""
    lost: int = 0
    unstored: int = 0
    duplicates: int = 0
    undetectable_duplicates: int = 0
    reordered: int = 0
    recovery_s: float | None = None
    lost_by_reason: dict[str, int] = field(default_factory=dict)
    """Lost recipients split by what they were: online user (socket expected) or offline (push)."""
    lost_examples: list[str] = field(default_factory=list)
    notes: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        return (
            self.lost == 0
            and self.unstored == 0
            and self.undetectable_duplicates == 0
            and self.reordered == 0
            and self.events > 0
        )

    def line(self) -> str:
        recovery = "-" if self.recovery_s is None else f"{self.recovery_s:.1f}s"
        return (
            f"chaos {self.scenario}: {'PASS' if self.ok else 'FAIL'} events={self.events} "
            f"recipients={self.recipients} delivered={self.delivered} pushed={self.pushed} "
            f"dead_lettered={self.dead_lettered} (invalid={self.dead_lettered_invalid}) "
            f"lost={self.lost} unstored={self.unstored} "
            f"duplicates={self.duplicates} undetectable={self.undetectable_duplicates} "
            f"reordered={self.reordered} recovery={recovery}"
            + "".join(f" lost_{k}={n}" for k, n in sorted(self.lost_by_reason.items()))
        )


def check(
    scenario: str,
    published: Iterable[Published],
    clients: Iterable[ClientLog],
    stored_ids: set[str],
    stored_inbox: set[tuple[str, str]],
    pushed: set[tuple[str, str]],
    dead: Iterable[DeadLetterView],
    recovery_s: float | None = None,
) -> Verdict:
    """Account for every (recipient, notification) of `published`; see the module rules."""
    events = _unique_by_id(published)
    logs = list(clients)
    verdict = Verdict(scenario, events=len(events), recovery_s=recovery_s)
    seen_by_user: dict[str, set[str]] = {}
    for log in logs:
        seen_by_user.setdefault(log.user_id, set()).update(r.id for r in log.frames)
    connected_throughout = {log.user_id for log in logs if log.connections == 1}
    dead_by_id: dict[str, list[DeadLetterView]] = {}
    for letter in dead:
        if letter.notification_id is not None:
            dead_by_id.setdefault(letter.notification_id, []).append(letter)
    for event in events.values():
        letters = dead_by_id.get(event.id, [])
        if event.kind == "invalid":
            groups = {d.group for d in letters if d.reason}
            missing = [g for g in INGRESS_GROUPS if g not in groups]
            if missing:
                verdict.lost += 1
                _example(verdict, f"{event.id}: invalid event not dead-lettered by {missing}")
            else:
                verdict.dead_lettered += 1
                verdict.dead_lettered_invalid += 1
            continue
        if event.id not in stored_ids:
            verdict.unstored += 1
            _example(verdict, f"{event.id}: not in history")
        elif event.kind == "users":
            missing_rows = [u for u in event.recipients if (u, event.id) not in stored_inbox]
            if missing_rows:
                verdict.unstored += 1
                _example(verdict, f"{event.id}: no inbox row for {missing_rows}")
        for user in event.recipients:
            verdict.recipients += 1
            if event.id in seen_by_user.get(user, ()):
                verdict.delivered += 1
            elif user in connected_throughout:
                if any(
                    d.reason and d.group in INGRESS_GROUPS and (not d.user_ids or user in d.user_ids)
                    for d in letters
                ):
                    verdict.dead_lettered += 1
                else:
                    verdict.lost += 1
                    verdict.lost_by_reason["connected"] = verdict.lost_by_reason.get("connected", 0) + 1
                    _example(
                        verdict, f"{event.id} -> {user}: {event.kind}, connected all along, not received"
                    )
            elif (user, event.id) in pushed:
                verdict.pushed += 1
            elif any(d.reason and (not d.user_ids or user in d.user_ids) for d in letters):
                verdict.dead_lettered += 1
            else:
                verdict.lost += 1
                where = "online" if user in seen_by_user else "offline"
                verdict.lost_by_reason[where] = verdict.lost_by_reason.get(where, 0) + 1
                _example(
                    verdict, f"{event.id} -> {user}: {event.kind}, not received, pushed or dead-lettered"
                )
    order = {e.id: id_key(e.entry_id) for e in events.values()}
    for log in logs:
        counts = Counter(r.id for r in log.frames)
        verdict.duplicates += sum(c - 1 for c in counts.values())
        verdict.undetectable_duplicates += log.frames_without_id
        late = _reordered(log, order)
        verdict.reordered += len(late)
        for first, before in late[:2]:
            _example(verdict, f"{log.user_id}: {first} arrived after the later-published {before}")
    return verdict


def _unique_by_id(published: Iterable[Published]) -> dict[str, Published]:
    """A retried publish may be acknowledged twice; the first acknowledgement counts."""
    events: dict[str, Published] = {}
    for event in published:
        events.setdefault(event.id, event)
    return events


def _reordered(log: ClientLog, order: Mapping[str, tuple[int, int]]) -> list[tuple[str, str]]:
    """First sightings on the first (live-only) connection that arrive after a later-published
    event: (the late id, the later-published id it came after)."""
    seen: set[str] = set()
    last: tuple[tuple[int, int], str] | None = None
    late = []
    for frame in log.frames:
        if frame.connection != 1 or frame.id in seen or frame.id not in order:
            continue
        seen.add(frame.id)
        key = order[frame.id]
        if last is not None and key < last[0]:
            late.append((frame.id, last[1]))
        else:
            last = (key, frame.id)
    return late


def _example(verdict: Verdict, text: str) -> None:
    if len(verdict.lost_examples) < 10:
        verdict.lost_examples.append(text)
