"""``python -m connectors.sandbox --kind social|payments|earnings|partner``: serve one sandbox upstream on a
loopback port until Ctrl-C.

The payments sandbox can push "payment received" webhooks to a hub (``--hub-url`` and ``--webhook-secret``):
on demand (``POST /_sandbox/pay``) and, with ``--push-every N``, one payment on a mandated account every N
seconds, so a demo shows payments arriving live.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import random
import sys
from collections.abc import AsyncIterator, Sequence

import aiohttp
from aiohttp import web

from connectors.sandbox import earnings, partner, payments, social

PORTS = {"social": 8101, "payments": 8102, "earnings": 8103, "partner": 8104}
NAMES = {
    "social": "social-profile",
    "payments": "bank (payments)",
    "earnings": "earnings",
    "partner": "partner GraphQL",
}


def _app(args: argparse.Namespace) -> web.Application:
    common = {
        "client_id": args.client_id,
        "client_secret": args.client_secret,
        "token_lifetime": args.token_lifetime,
        "rate_limit": args.rate_limit,
        "latency": args.latency,
        "error_rate": args.error_rate,
    }
    if args.kind == "payments":
        state = payments.PaymentsState(**common, hub_url=args.hub_url, webhook_secret=args.webhook_secret)
        app = payments.create_app(state)
        if args.push_every:
            app.cleanup_ctx.append(_pusher(state, args.push_every))
        return app
    if args.kind == "earnings":
        return earnings.create_app(earnings.EarningsState(**common, api_key=args.api_key))
    if args.kind == "partner":
        return partner.create_app(partner.PartnerState(**common, token=args.api_key))
    return social.create_app(social.SandboxState(**common))


def _pusher(state: payments.PaymentsState, every: float):  # type: ignore[no-untyped-def]
    async def run(app: web.Application) -> AsyncIterator[None]:
        async def loop() -> None:
            rng = random.Random(11)
            async with aiohttp.ClientSession() as session:
                while True:
                    await asyncio.sleep(every)
                    if state.mandates and state.hub_url and state.webhook_secret:
                        account = rng.choice(sorted(state.mandates))
                        _, monthly = state.mandates[account]
                        delivery = await payments.pay(state, session, account, monthly or rng.randrange(2_500, 9_000))
                        print(
                            f"pushed a payment on {account}: hub answered {delivery and delivery.statuses}",
                            file=sys.stderr,
                        )

        task = asyncio.create_task(loop())
        yield
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    return run


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m connectors.sandbox", description=__doc__)
    parser.add_argument("--kind", choices=sorted(PORTS), default="social")
    parser.add_argument("--host", default="127.0.0.1", help="interface to bind (default: loopback only)")
    parser.add_argument("--port", type=int, default=None, help="default: 8101 social, 8102 payments, …")
    parser.add_argument("--client-id", default=os.environ.get("SOCIAL_SANDBOX_CLIENT_ID", "sandbox-client"))
    parser.add_argument("--client-secret", default=os.environ.get("SOCIAL_SANDBOX_CLIENT_SECRET", "sandbox-secret"))
    parser.add_argument("--api-key", default="sandbox-api-key", help="earnings API key / partner bearer token")
    parser.add_argument("--token-lifetime", type=int, default=3600, help="seconds an access token lives")
    parser.add_argument("--rate-limit", type=int, default=None, help="API requests per second before 429s")
    parser.add_argument("--latency", type=float, default=0.0, help="mean seconds added to each API answer")
    parser.add_argument("--error-rate", type=float, default=0.0, help="share of API requests failed at random")
    parser.add_argument("--hub-url", default=None, help="payments: where to push webhooks (…/webhooks/<connector>)")
    parser.add_argument("--webhook-secret", default=os.environ.get("SANDBOX_WEBHOOK_SECRET"), help="payments: whsec_…")
    parser.add_argument("--push-every", type=float, default=0.0, help="payments: seconds between pushed payments")
    args = parser.parse_args(argv)
    port = args.port if args.port is not None else PORTS[args.kind]

    def announce(_: str) -> None:
        print(f"{NAMES[args.kind]} sandbox on http://{args.host}:{port} (faults: PUT /_sandbox/fault)", file=sys.stderr)

    web.run_app(_app(args), host=args.host, port=port, print=announce, access_log=None)


if __name__ == "__main__":
    main()
