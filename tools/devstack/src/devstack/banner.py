"""What `make run` prints once the fleet is up: every URL, the dev tokens, commands to paste."""

from __future__ import annotations

import json
import shlex

from notify_common.config import redact_url

from devstack.fleet import DEV_ADMIN_TOKEN, DEV_SERVICE_TOKEN, Fleet, dev_token

DEMO_USER = "42"
DEMO_ROLES = ["customer"]
DEMO_EVENT = {"type": "hello", "audience": {"kind": "users", "ids": [DEMO_USER]}, "title": "Hi"}
TOKEN_COMMAND = "uv run python -m devstack token --user 7 --roles driver"
END = "Ctrl-C stops the fleet (services first, then Redis)."
"""The banner's last line (scripts and tests wait for it)."""


def curl(url: str, token: str, body: object | None = None) -> str:
    """A one-line curl command with a bearer token (and a JSON body: POST). A token of the form
    `$NAME` stays a shell variable."""
    auth = (
        f'"Authorization: Bearer {token}"'
        if token.startswith("$")
        else shlex.quote(f"Authorization: Bearer {token}")
    )
    parts = []
    if body is not None:
        parts += ["-H", "Content-Type: application/json", "-d", json.dumps(body, separators=(",", ":"))]
    return f"curl -H {auth} {shlex.join([*parts, url])}"


def page_link(fleet: Fleet) -> str:
    """The inbox page, signed in as the demo user (open it in two tabs)."""
    return f"{fleet.page_url()}?user={DEMO_USER}&roles={','.join(DEMO_ROLES)}"


def banner(fleet: Fleet, redis_url: str, throwaway_redis: bool) -> str:
    """Every address a user of the running fleet needs, the dev tokens and ready-to-paste commands."""
    token = dev_token(DEMO_USER, DEMO_ROLES)
    first = next(iter(fleet.gateway_ports))
    lines = [""]
    if fleet.inbox_page:
        lines += [f"Inbox page (development): {page_link(fleet)}", ""]
    lines += ["The notification fleet is running.", "", "Where things are"]
    for name, port in fleet.gateway_ports.items():
        lines.append(f"  {name + ' WebSocket':22} {fleet.gateway_url(name)}")
        lines.append(f"  {name + ' SSE':22} http://127.0.0.1:{port}/events")
    if fleet.router_http_port:
        lines.append(
            f"  {'publish API (router)':22} {fleet.router_url()}/v1/events   (OpenAPI: /v1/openapi.json)"
        )
        lines.append(f"  {'preferences (router)':22} {fleet.router_url()}/v1/preferences")
    if fleet.history_api_port:
        lines.append(f"  {'inbox API (history)':22} {fleet.inbox_url()}/v1/inbox   (admin: /v1/admin/*)")
    if fleet.push_api_port:
        lines.append(f"  {'device API (push)':22} {fleet.push_url()}/v1/devices")
    if fleet.fcm is not None:
        lines.append(f"  {'fake FCM':22} {fleet.fcm_url()}/_fake/messages   (pushes it received)")
    ops = ", ".join(f"{name} {port}" for name, port in fleet.ops_ports.items())
    lines.append(f"  {'ops ports':22} /healthz /readyz /metrics on {ops}")
    kind = "throwaway, gone at Ctrl-C" if throwaway_redis else "from REDIS_URL"
    lines.append(f"  {'Redis':22} {redact_url(redis_url)}   ({kind})")
    lines.append(f"  {'logs':22} {fleet.workdir / 'logs'}")
    lines += [
        "",
        "Tokens (development only; the same in docker compose and the dev overlay)",
        f"  {'service token':22} {DEV_SERVICE_TOKEN}   (publish API; SERVICE_TOKENS)",
        f"  {'admin token':22} {DEV_ADMIN_TOKEN}   (history /v1/admin/*; ADMIN_TOKEN)",
        f"  user {DEMO_USER} (roles {', '.join(DEMO_ROLES)}, valid 1 h), for the commands below:",
        f"    export USER_TOKEN={token}",
        f"  any user: {TOKEN_COMMAND}",
        "",
        "notifyctl, from another shell",
        f"  export REDIS_URL={shlex.quote(redis_url)}"
        if throwaway_redis
        else "  (REDIS_URL: the one you set)",
        f"  export KEY_PREFIX={fleet.key_prefix}",
        "  uv run notifyctl lag",
        "",
        "Try it",
        f"  connect as user {DEMO_USER}:  {fleet.gateway_url(first)}?token={token}",
    ]
    if fleet.router_http_port:
        lines += [
            f"  publish to user {DEMO_USER}:",
            f"    {curl(fleet.router_url() + '/v1/events', DEV_SERVICE_TOKEN, DEMO_EVENT)}",
        ]
    if fleet.history_api_port:
        lines += [
            f"  inbox of user {DEMO_USER}:",
            f"    {curl(fleet.inbox_url() + '/v1/inbox', '$USER_TOKEN')}",
            "  delivery trail of a notification (its id is in the publish answer):",
            f"    {curl(fleet.inbox_url() + '/v1/admin/notifications/<id>', DEV_ADMIN_TOKEN)}",
        ]
    if fleet.push_api_port:
        device = {"token": "dev-device-1", "platform": "android"}
        lines += [
            f"  register a push device for user {DEMO_USER}:",
            f"    {curl(fleet.push_url() + '/v1/devices', '$USER_TOKEN', device)}",
        ]
    lines += [
        "  or straight into the ingress stream:",
        f"    uv run notifyctl publish --user {DEMO_USER} --title Hi",
        "",
        END,
    ]
    return "\n".join(lines)
