"""`earnings_feed`: pay-period records from an employer earnings API (RTI-like), matched by NINO.

Upstream contract (the sandbox in `connectors.sandbox.earnings` implements it):

* API key in a header (`X-Api-Key` by default; the key from the environment);
* `GET /v1/earnings/{nino}?from=YYYY-MM-DD` → `{"nino", "periods": [...]}`, 404 when the API holds no
  earnings for that NINO;
* `POST /v1/earnings/query` with `{"ninos": [...], "from": "YYYY-MM-DD"}` (up to 100) →
  `{"results": [{"nino", "periods": [...]}], "unknown": [nino, ...]}`: one call for a whole page of people.

A period is `{employer: {name, payeReference?}, periodStart, periodEnd, grossPayPence, paidOn?}` — money is
integer pence on the wire and stays so (a float, a negative amount or an end before the start is a wrong
answer for that person, never a value served). Only periods ending inside the lookback window are kept.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from datetime import UTC, date, datetime, timedelta
from typing import Any, ClassVar
from urllib.parse import quote

import aiohttp
from pydantic import AnyHttpUrl, BaseModel, ConfigDict, Field, StrictInt, ValidationError, model_validator

from connectors.auth import HeaderAuth, authorised_json
from connectors.contract import Connector, ConnectorConfig, EnvSecret, MatchKey, Outcome
from connectors.errors import BadResponse
from connectors.http import request_json

__all__ = ["EarningsFeed", "EarningsFeedConnector", "EarningsFeedSettings", "PayPeriod"]

MAX_BATCH = 100
_NINO = re.compile(r"^[A-Z]{2}\d{6}[A-D]$")


class EarningsFeedSettings(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)

    base_url: AnyHttpUrl
    api_key: EnvSecret = Field(description="NAME of the environment variable holding the API key")
    api_key_header: str = Field("X-Api-Key", pattern=r"^[A-Za-z0-9-]+$")
    lookback_days: int = Field(400, ge=1, le=2000)
    batch_size: int = Field(50, ge=1, le=MAX_BATCH)


class PayPeriod(BaseModel):
    """One pay period at one employer: what the person was paid, gross, in pence."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    employer: str
    employer_paye_reference: str | None = None
    period_start: date
    period_end: date
    gross_pay_pence: int = Field(ge=0)
    paid_on: date | None = None


class EarningsFeed(BaseModel):
    """A person's recent pay periods, newest first, with their current employer and totals."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    periods: list[PayPeriod]
    current_employer: str | None = None
    gross_pay_pence_total: int = Field(ge=0)
    latest_period_end: date | None = None


class _Employer(BaseModel):
    name: str = Field(min_length=1)
    payeReference: str | None = None  # noqa: N815 - the wire name


class _Period(BaseModel):
    employer: _Employer
    periodStart: date  # noqa: N815
    periodEnd: date  # noqa: N815
    grossPayPence: StrictInt = Field(ge=0)  # noqa: N815 - pence are whole numbers: 12.5 is refused, not rounded
    paidOn: date | None = None  # noqa: N815

    @model_validator(mode="after")
    def _ordered(self) -> _Period:
        if self.periodEnd < self.periodStart:
            raise ValueError("periodEnd is before periodStart")
        return self


class _Earnings(BaseModel):
    nino: str
    periods: list[_Period]


class EarningsFeedConnector(Connector):
    kind: ClassVar[str] = "earnings_feed"
    summary: ClassVar[str] = "Employer earnings feed: pay periods (employer, period, gross pay in pence) by NINO"
    settings_model: ClassVar[type[BaseModel]] = EarningsFeedSettings
    match_keys: ClassVar[tuple[MatchKey, ...]] = (MatchKey.NINO,)
    fields = EarningsFeed

    def __init__(self, config: ConnectorConfig[Any], *, session: aiohttp.ClientSession) -> None:
        super().__init__(config, session=session)
        self.settings: EarningsFeedSettings = config.settings
        self.base_url = str(self.settings.base_url).rstrip("/")
        self.auth = HeaderAuth(self.settings.api_key_header, self.settings.api_key.get())
        self.max_batch_size = self.settings.batch_size

    def _since(self) -> date:
        return (datetime.now(UTC) - timedelta(days=self.settings.lookback_days)).date()

    async def fetch_many(self, keys: Sequence[str]) -> Mapping[str, Outcome]:
        out: dict[str, Outcome] = dict.fromkeys(keys)
        known = [k for k in keys if _NINO.match(k)]  # anything else cannot be a NINO the API holds
        if len(known) == 1:
            out[known[0]] = await self._one(known[0])
        elif known:
            out.update(await self._batch(known))
        return out

    async def _one(self, nino: str) -> Outcome:
        response = await authorised_json(
            self.session,
            self.auth,
            f"{self.base_url}/v1/earnings/{quote(nino, safe='')}",
            what="earnings request",
            params={"from": self._since().isoformat()},
        )
        return self._record(response.body, nino) if response.found else None

    async def _batch(self, ninos: Sequence[str]) -> dict[str, Outcome]:
        # POST, but a query: it changes nothing upstream, so retrying it is safe (the kind stays idempotent).
        response = await request_json(
            self.session,
            "POST",
            f"{self.base_url}/v1/earnings/query",
            what="earnings batch request",
            headers=await self.auth.headers(),
            json={"ninos": list(ninos), "from": self._since().isoformat()},
        )
        body = response.body
        results = body.get("results") if isinstance(body, dict) else None
        if not isinstance(results, list):
            raise BadResponse("earnings batch request: the response has no results list")
        by_nino = {r.get("nino"): r for r in results if isinstance(r, dict)}
        return {n: self._record(by_nino[n], n) if n in by_nino else None for n in ninos}

    def _record(self, document: Any, nino: str) -> Outcome:
        try:
            earnings = _Earnings.model_validate(document)
        except ValidationError:
            return BadResponse("earnings in the response do not match the API's schema")
        if earnings.nino != nino:
            return BadResponse("the API answered with another person's earnings than the ones asked for")
        since = self._since()
        periods = sorted(
            (
                PayPeriod(
                    employer=p.employer.name,
                    employer_paye_reference=p.employer.payeReference,
                    period_start=p.periodStart,
                    period_end=p.periodEnd,
                    gross_pay_pence=p.grossPayPence,
                    paid_on=p.paidOn,
                )
                for p in earnings.periods
                if p.periodEnd >= since
            ),
            key=lambda p: (p.period_end, p.employer),
            reverse=True,
        )
        return EarningsFeed(
            periods=periods,
            current_employer=periods[0].employer if periods else None,
            gross_pay_pence_total=sum(p.gross_pay_pence for p in periods),
            latest_period_end=periods[0].period_end if periods else None,
        )
