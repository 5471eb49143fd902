from __future__ import annotations

from notify_common.rooms import ALL, audience_room, member_rooms, role_room, topic_room
from notify_common.schemas import AllAudience, GeoAudience, RoleAudience, TopicAudience, UsersAudience


def test_room_names_are_the_wire_format() -> None:
    assert (role_room("driver"), topic_room("news"), ALL) == ("role:driver", "topic:news", "all")


def test_broadcast_audiences_have_a_room_and_explicit_ones_none() -> None:
    assert audience_room(RoleAudience(role="driver")) == "role:driver"
    assert audience_room(TopicAudience(topic="news")) == "topic:news"
    assert audience_room(AllAudience()) == "all"
    assert audience_room(UsersAudience(ids=["u1"])) is None
    assert audience_room(GeoAudience(role="driver", lat=0, lon=0, radius_m=10)) is None


def test_a_user_is_in_all_their_role_rooms_and_topic_rooms() -> None:
    assert member_rooms(["driver"], ["news"]) == ["all", "role:driver", "topic:news"]
