"""``python -m connectors.sandbox``: serve the social-profile sandbox API on a loopback port until Ctrl-C."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Sequence

from aiohttp import web

from connectors.sandbox.social import SandboxState, create_app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m connectors.sandbox", description=__doc__)
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=8101)
    parser.add_argument("--client-id", default=os.environ.get("SOCIAL_SANDBOX_CLIENT_ID", "sandbox-client"))
    parser.add_argument("--client-secret", default=os.environ.get("SOCIAL_SANDBOX_CLIENT_SECRET", "sandbox-secret"))
    parser.add_argument("--token-lifetime", type=int, default=3600, help="seconds an access token lives")
    parser.add_argument("--rate-limit", type=int, default=None, help="API requests per second before 429s")
    args = parser.parse_args(argv)
    state = SandboxState(
        client_id=args.client_id,
        client_secret=args.client_secret,
        token_lifetime=args.token_lifetime,
        rate_limit=args.rate_limit,
    )

    def announce(_: str) -> None:
        print(
            f"social-profile sandbox on http://{args.host}:{args.port} (faults: PUT /_sandbox/fault)", file=sys.stderr
        )

    web.run_app(create_app(state), host=args.host, port=args.port, print=announce, access_log=None)


if __name__ == "__main__":
    main()
