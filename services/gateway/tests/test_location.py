"""Live locations: stored for the router's geo audience, forwarded only to authorised trackers."""

from __future__ import annotations

import time

import aiohttp
import jwt
from gwkit import GatewayFactory, RunningGateway, connect_live, frame_of_type, make_token, next_frame

TRACKING_SECRET = "tracking-secret-0123456789abcdef-0123"


def grant(tracker: str, drivers: list[str], secret: str = TRACKING_SECRET) -> str:
    claims = {"sub": tracker, "track": drivers, "aud": "notify:track", "exp": int(time.time()) + 600}
    return jwt.encode(claims, secret, algorithm="HS256")


async def tracking_gateway(factory: GatewayFactory) -> RunningGateway:
    return await factory(tracking_secret=TRACKING_SECRET)


async def test_driver_location_is_stored_in_the_roles_geo_set(
    http: aiohttp.ClientSession, gateway: RunningGateway
) -> None:
    driver = await connect_live(http, gateway, make_token("d1", ["driver"]))
    await driver.send_json({"type": "location", "lat": 52.52, "lon": 13.405})
    await driver.send_json({"type": "ping"})
    await frame_of_type(driver, "pong")
    client = gateway.node.client
    [(lon, lat)] = await client.geopos(gateway.keys.locations("driver"), "d1")
    assert (round(lat, 3), round(lon, 3)) == (52.52, 13.405)
    assert await client.zscore(gateway.keys.location_seen("driver"), "d1") is not None


async def test_location_from_a_role_without_tracking_is_refused(
    http: aiohttp.ClientSession, gateway: RunningGateway
) -> None:
    customer = await connect_live(http, gateway, make_token("c1", ["customer"]))
    await customer.send_json({"type": "location", "lat": 1, "lon": 2})
    assert (await next_frame(customer))["code"] == "forbidden"


async def test_tracker_with_a_grant_receives_live_positions_across_nodes(
    http: aiohttp.ClientSession, gateway_factory: GatewayFactory
) -> None:
    a = await gateway_factory("gw-a", tracking_secret=TRACKING_SECRET)
    b = await gateway_factory("gw-b", tracking_secret=TRACKING_SECRET)
    driver = await connect_live(http, a, make_token("d1", ["driver"]))
    customer = await connect_live(http, b, make_token("c1", ["customer"]))
    await customer.send_json({"type": "track", "grant": grant("c1", ["d1"])})
    assert await next_frame(customer) == {"type": "tracking", "user_ids": ["d1"]}
    await driver.send_json({"type": "location", "lat": 48.1, "lon": 11.5, "heading": 90})
    update = await frame_of_type(customer, "location")
    assert (update["user_id"], update["lat"], update["lon"], update["heading"]) == ("d1", 48.1, 11.5, 90)


async def test_grant_issued_to_another_user_is_refused(
    http: aiohttp.ClientSession, gateway_factory: GatewayFactory
) -> None:
    gw = await tracking_gateway(gateway_factory)
    customer = await connect_live(http, gw, make_token("c2"))
    await customer.send_json({"type": "track", "grant": grant("c1", ["d1"])})
    error = await next_frame(customer)
    assert (error["code"], error["message"]) == (
        "forbidden_tracking",
        "invalid grant: it was issued to another user",
    )


async def test_grant_with_a_wrong_signature_is_refused_and_nothing_is_forwarded(
    http: aiohttp.ClientSession, gateway_factory: GatewayFactory
) -> None:
    gw = await tracking_gateway(gateway_factory)
    driver = await connect_live(http, gw, make_token("d1", ["driver"]))
    snoop = await connect_live(http, gw, make_token("c1"))
    await snoop.send_json({"type": "track", "grant": grant("c1", ["d1"], secret="x" * 40)})
    assert (await next_frame(snoop))["code"] == "forbidden_tracking"
    await driver.send_json({"type": "location", "lat": 1, "lon": 1})
    await snoop.send_json({"type": "ping"})
    assert (await next_frame(snoop))["type"] == "pong"  # no location frame came first
