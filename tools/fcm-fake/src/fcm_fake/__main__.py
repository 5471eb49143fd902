"""`python -m fcm_fake [--host H] [--port P] [--service-account-out PATH] [--project ID]`"""

from __future__ import annotations

import argparse
import asyncio
import signal

from fcm_fake.credentials import write_service_account
from fcm_fake.runner import DEFAULT_PORT, serve
from fcm_fake.server import FakeState


async def main(args: argparse.Namespace) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, stop.set)
    serving = await serve(FakeState(keep_messages=args.keep_messages), args.host, args.port)
    try:
        base_url = f"http://{args.host}:{serving.port}"
        if args.service_account_out:
            write_service_account(args.service_account_out, base_url, args.project)
        # The one line scripts wait for: the service account (if asked for) is written by now.
        print(f"fcm-fake listening on {base_url}", flush=True)
        await stop.wait()
    finally:
        await serving.close()


def parse() -> argparse.Namespace:
    parser = argparse.ArgumentParser(
        prog="fcm_fake", description="Local fake FCM + OAuth for development and tests (not production)."
    )
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument(
        "--port",
        type=int,
        default=DEFAULT_PORT,
        help=f"default {DEFAULT_PORT}; 0 picks a free port (printed)",
    )
    parser.add_argument("--service-account-out", help="write a service-account JSON pointing at the fake")
    parser.add_argument("--project", default="fake-project")
    parser.add_argument("--keep-messages", type=int, default=10_000, help="received messages kept")
    return parser.parse_args()


if __name__ == "__main__":
    asyncio.run(main(parse()))
