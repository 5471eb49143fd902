from __future__ import annotations

import pytest
from notify_common.stream_ids import after, id_key, id_ms, id_of, id_text, next_id


def test_ids_compare_numerically_not_as_text() -> None:
    assert id_key("9-0") < id_key("10-0") < id_key("10-2") < id_key(b"10-10")


def test_an_id_without_sequence_means_sequence_zero() -> None:
    assert id_key("17") == (17, 0)


def test_id_parts_round_trip() -> None:
    assert id_of(id_key(b"1700000000000-3")) == "1700000000000-3"
    assert id_ms(b"1700000000000-3") == 1700000000000
    assert id_text(b"5-1") == id_text("5-1") == "5-1"


def test_next_id_is_the_lowest_id_after() -> None:
    assert next_id("5-1") == "5-2"
    assert next_id(b"5") == "5-1"


def test_after_is_an_exclusive_range_bound() -> None:
    assert after("5-1") == "(5-1"


def test_a_name_that_is_not_an_id_is_an_error() -> None:
    with pytest.raises(ValueError):
        id_key(b"not-an-id")
