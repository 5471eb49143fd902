from __future__ import annotations

from push_worker.breaker import AuthAlarm, Breaker


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_circuit_opens_after_consecutive_fcm_failures() -> None:
    clock = Clock()
    breaker = Breaker(failures=3, open_s=5, max_open_s=60, clock=clock)
    breaker.record(successes=0, down=2)
    assert breaker.allow()
    breaker.record(successes=0, down=1)
    assert breaker.state == "open"
    assert not breaker.allow()
    assert breaker.wait_s() == 5


def probing() -> Breaker:
    """A circuit opened by one failure, its pause over, its probe let through."""
    clock = Clock()
    breaker = Breaker(failures=1, open_s=5, max_open_s=60, clock=clock)
    breaker.record(successes=0, down=1)
    clock.now += 5
    assert breaker.allow()
    return breaker


def test_open_circuit_lets_one_probe_through_after_the_pause() -> None:
    breaker = probing()
    assert not breaker.allow()  # one probe at a time


def test_failed_probe_doubles_the_pause_up_to_the_cap() -> None:
    clock = Clock()
    breaker = Breaker(failures=1, open_s=5, max_open_s=12, clock=clock)
    breaker.record(successes=0, down=1)
    for expected in (10, 12, 12):
        clock.now += 100
        assert breaker.allow()
        breaker.record(successes=0, down=1)
        assert breaker.wait_s() == expected


def test_successful_probe_closes_the_circuit() -> None:
    breaker = probing()
    breaker.record(successes=1, down=0)
    assert breaker.state == "closed"
    assert breaker.allow() and breaker.allow()


def test_retry_after_longer_than_the_pause_is_honoured() -> None:
    breaker = Breaker(failures=1, open_s=5, max_open_s=60, clock=Clock())
    breaker.record(successes=0, down=1, retry_after_s=30)
    assert breaker.wait_s() == 30


def test_auth_alarm_on_a_platform_holds_only_that_platform() -> None:
    clock = Clock()
    alarm = AuthAlarm(retry_s=60, clock=clock)
    alarm.trip("ios", "THIRD_PARTY_AUTH_ERROR")
    assert not alarm.allows("ios")
    assert alarm.allows("android")
    clock.now += 60
    assert alarm.allows("ios")  # probe due
    assert alarm.alarmed
    alarm.clear("ios")
    assert not alarm.alarmed


def test_auth_alarm_on_credentials_holds_everything() -> None:
    alarm = AuthAlarm(retry_s=60, clock=Clock())
    alarm.trip("*", "CREDENTIALS: refused")
    assert not alarm.allows("android") and not alarm.allows("topic")
    alarm.credentials_work()
    assert not alarm.alarmed
