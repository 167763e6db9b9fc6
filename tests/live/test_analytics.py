"""Embedded analytics: the Cypher figures equal `graph.money`'s case by case, and are served behind policy.

Cases are built to hit the edges of the maths: month ends and a leap year, every frequency, a schedule
change, part payments, missed ones, payments on the due date, and both schemes.
"""

from __future__ import annotations

import random
import uuid
from datetime import UTC, date, datetime, time, timedelta

import pytest
from case_support import case_family
from conftest import Gql, MintToken

from graph import analytics, maintenance
from graph.bulk import Batch, write_batch
from graph.driver import Graph
from graph.errors import InvalidValue
from graph.money import Frequency, MaintenanceCase, Scheme, instalments, paying_position, payment_date

TODAY = datetime.now(UTC).date()


def at(day: date) -> datetime:
    return datetime.combine(day, time(0, 1) if day >= TODAY else time(12), tzinfo=UTC)


async def build_cases(graph: Graph, n: int, seed: int) -> list[MaintenanceCase]:
    rng = random.Random(seed)
    cases = []
    for i in range(n):
        scheme = Scheme.COLLECT_AND_PAY if i % 2 else Scheme.DIRECT_PAY
        fam = await case_family(graph, scheme, payment=False)
        start = rng.choice([date(2024, 1, 31), date(2024, 2, 29), date(2023, 12, 30), TODAY - timedelta(days=200)])
        frequency = rng.choice(list(Frequency))
        amount = rng.choice([1_000, 1_333, 2_501, 9_999])
        # case_family gave the case a schedule from 60 days ago: replace it with one from `start`.
        case = await maintenance.create_case(graph, scheme, fam.payer.id, fam.receiver.id, [fam.child.id])
        await maintenance.add_schedule(graph, case.id, amount, frequency, start)
        if rng.random() < 0.5:
            change = start + timedelta(days=rng.randint(40, 150))
            await maintenance.change_schedule(graph, case.id, amount + 500, rng.choice(list(Frequency)), change)
        case = await maintenance.get_case(graph, case.id)
        for k, inst in enumerate(instalments(case.schedules, scheme, TODAY - timedelta(days=1))):
            roll = rng.random()
            if roll < 0.2:
                continue  # missed
            pay = inst.total_pence if roll < 0.7 else inst.total_pence // 2  # in full, or part
            late = 0 if roll < 0.5 else rng.randint(1, 9)  # on the due date, or late
            day = min(inst.due_date + timedelta(days=late), TODAY)
            await maintenance.record_payment(graph, case.id, pay, at(day), f"test:{case.id}:{k}")
        cases.append(await maintenance.get_case(graph, case.id))
    return cases


def reference_on_time(cases: list[MaintenanceCase], start: date, end: date) -> tuple[int, int]:
    due = on_time = 0
    for case in cases:
        for inst in instalments(case.schedules, case.scheme, end):
            if inst.due_date < start:
                continue
            owed = sum(i.total_pence for i in instalments(case.schedules, case.scheme, inst.due_date))
            paid = sum(p.amount_pence for p in case.payments if payment_date(p) <= inst.due_date)
            due += 1
            on_time += paid >= owed
    return due, on_time


@pytest.fixture(scope="module")
async def cases(graph: Graph) -> list[MaintenanceCase]:
    return await build_cases(graph, 10, seed=6)


@pytest.mark.parametrize("as_of", [TODAY, date(2024, 3, 1), date(2024, 2, 29), date(2025, 1, 1), date(2023, 1, 1)])
async def test_arrears_equal_the_position_maths_case_by_case(
    graph: Graph, cases: list[MaintenanceCase], as_of: date
) -> None:
    for case in cases:
        got = await analytics.arrears(graph, as_of, [case.id])
        assert got.arrears_pence == paying_position(case, as_of).arrears_pence, (case, as_of)
    total = await analytics.arrears(graph, as_of, [c.id for c in cases])
    expected = [paying_position(c, as_of).arrears_pence for c in cases]
    assert (total.cases, total.cases_in_arrears, total.arrears_pence) == (
        len(cases),
        sum(1 for e in expected if e > 0),
        sum(expected),
    )


@pytest.mark.parametrize(
    ("start", "end"),
    [
        (date(2024, 1, 1), TODAY - timedelta(days=1)),
        (date(2024, 2, 1), date(2024, 3, 31)),
        (TODAY - timedelta(days=90), TODAY - timedelta(days=1)),
        (date(2020, 1, 1), date(2020, 12, 31)),
    ],
)
async def test_on_time_rate_equals_the_reference(
    graph: Graph, cases: list[MaintenanceCase], start: date, end: date
) -> None:
    got = await analytics.on_time(graph, start, end, [c.id for c in cases])
    assert (got.due, got.on_time) == reference_on_time(cases, start, end)
    if got.due:
        assert got.rate == got.on_time / got.due
    else:
        assert got.rate is None


async def test_a_backwards_period_is_refused(graph: Graph) -> None:
    with pytest.raises(InvalidValue):
        await analytics.on_time(graph, date(2024, 2, 1), date(2024, 1, 1))


def test_the_cases_are_not_all_alike(cases: list[MaintenanceCase]) -> None:
    """The comparisons above are not vacuous: some cases are in arrears and some not, some instalments were
    paid on time and some not, and both schemes and several frequencies appear."""
    arrears = [paying_position(c, TODAY).arrears_pence for c in cases]
    assert any(a > 0 for a in arrears) and any(a == 0 for a in arrears) or len(set(arrears)) > 2
    due, on_time = reference_on_time(cases, date(2024, 1, 1), TODAY - timedelta(days=1))
    assert 0 < on_time < due
    assert {c.scheme for c in cases} == set(Scheme)
    assert len({s.frequency for c in cases for s in c.schedules}) >= 3


CASELOAD = """query($asOf: Date, $from: Date!, $to: Date!) { caseload {
  casesInArrears(asOf: $asOf) arrearsTotalPence(asOf: $asOf)
  onTimePaymentRate(from: $from, to: $to) { from to instalmentsDue paidOnTime rate }
  claimsByTypeAndStatus { type status count } } }"""


def codes(body: dict[str, object]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]  # type: ignore[attr-defined, index]


async def test_caseload_figures_are_live(gql: Gql, graph: Graph) -> None:
    variables = {"asOf": None, "from": "2024-01-01", "to": TODAY.isoformat()}
    before = (await gql(CASELOAD, variables))["data"]["caseload"]
    # A new case whose first instalment (£100 + 20% fee) was due yesterday and is unpaid: one more case in
    # arrears, £120 more arrears, one more instalment due and not paid on time.
    fam = await case_family(graph, Scheme.COLLECT_AND_PAY, payment=False)
    case = await maintenance.create_case(graph, Scheme.COLLECT_AND_PAY, fam.payer.id, fam.receiver.id, [fam.child.id])
    await maintenance.add_schedule(graph, case.id, 10_000, Frequency.MONTHLY, TODAY - timedelta(days=1))
    kind = f"TEST_{uuid.uuid4().hex[:8]}"
    claims = [{"person": fam.payer.id, "id": str(uuid.uuid4()), "props": {"type": kind, "status": s}} for s in "ABA"]
    await write_batch(graph, Batch(key=f"test:{uuid.uuid4()}", claims=claims))

    body = await gql(CASELOAD, variables)
    assert "errors" not in body, body
    after = body["data"]["caseload"]
    assert after["casesInArrears"] - before["casesInArrears"] >= 1  # case_family's own case may be too
    expected = await analytics.arrears(graph, TODAY)
    assert (after["casesInArrears"], after["arrearsTotalPence"]) == (expected.cases_in_arrears, expected.arrears_pence)
    rate = after["onTimePaymentRate"]
    assert rate["to"] == (TODAY - timedelta(days=1)).isoformat()  # only days that have passed
    assert rate["instalmentsDue"] > before["onTimePaymentRate"]["instalmentsDue"]
    assert rate["rate"] == pytest.approx(rate["paidOnTime"] / rate["instalmentsDue"])
    mine = {(c["status"], c["count"]) for c in after["claimsByTypeAndStatus"] if c["type"] == kind}
    assert mine == {("A", 2), ("B", 1)}


async def test_arrears_as_of_a_past_day(gql: Gql, graph: Graph) -> None:
    body = await gql(CASELOAD, {"asOf": "2024-03-01", "from": "2024-01-01", "to": "2024-01-31"})
    expected = await analytics.arrears(graph, date(2024, 3, 1))
    got = body["data"]["caseload"]
    assert (got["casesInArrears"], got["arrearsTotalPence"]) == (expected.cases_in_arrears, expected.arrears_pence)
    assert got["onTimePaymentRate"]["to"] == "2024-01-31"


@pytest.mark.parametrize(
    ("start", "end"), [("2024-02-01", "2024-01-01"), ("2000-01-01", "2024-01-01"), ("2024-13-01", "2024-01-01")]
)
async def test_bad_periods_are_refused(gql: Gql, start: str, end: str) -> None:
    query = "query($f: Date!, $t: Date!) { caseload { onTimePaymentRate(from: $f, to: $t) { rate } } }"
    body = await gql(query, {"f": start, "t": end})
    assert body.get("data") is None or body["data"]["caseload"]["onTimePaymentRate"] is None
    assert codes(body) and set(codes(body)) <= {"BAD_USER_INPUT", "GRAPHQL_VALIDATION_FAILED"}, body


async def test_each_figure_is_behind_its_own_grant(gql: Gql, token: MintToken) -> None:
    benefits = {"authorization": f"Bearer {token(['caseworker'])}", "x-purpose": "benefits-assessment"}
    body = await gql(CASELOAD, {"from": "2024-01-01", "to": "2024-02-01"}, headers=benefits)
    got = body["data"]["caseload"]
    assert got["claimsByTypeAndStatus"] is not None
    assert (got["casesInArrears"], got["arrearsTotalPence"], got["onTimePaymentRate"]) == (None, None, None)
    assert codes(body) == ["FORBIDDEN"] * 3

    for headers in (
        {"authorization": f"Bearer {token(['partner'], department='HMRC', purpose='earnings-verification')}"},
        {"authorization": f"Bearer {token(['auditor'])}", "x-purpose": "audit"},
        {"authorization": f"Bearer {token(None, subject=f'urn:test:{uuid.uuid4()}')}"},  # a citizen
    ):
        body = await gql(CASELOAD, {"from": "2024-01-01", "to": "2024-02-01"}, headers=headers)
        assert body["data"] is None or body["data"]["caseload"] is None
        assert codes(body) == ["FORBIDDEN"], body


@pytest.mark.parametrize("as_of", ["0001-01-01", "9999-12-31"])
async def test_days_far_outside_any_case_are_refused_clearly(gql: Gql, as_of: str) -> None:
    query = "query($d: Date) { caseload { casesInArrears(asOf: $d) } }"
    body = await gql(query, {"d": as_of})
    assert body["data"]["caseload"]["casesInArrears"] is None
    assert codes(body) == ["BAD_USER_INPUT"], body
    query = "query($d: Date!) { caseload { onTimePaymentRate(from: $d, to: $d) { rate } } }"
    assert codes(await gql(query, {"d": as_of})) == ["BAD_USER_INPUT"]


async def test_arrears_total_beyond_32_bits_is_served_exactly(gql: Gql, graph: Graph) -> None:
    # GraphQL's Int stops at 2^31 - 1 pence (about £21m): a department's arrears are far beyond that.
    fam = await case_family(graph, Scheme.DIRECT_PAY, payment=False)
    case = await maintenance.create_case(graph, Scheme.DIRECT_PAY, fam.payer.id, fam.receiver.id, [fam.child.id])
    await maintenance.add_schedule(graph, case.id, 100_000_000, Frequency.WEEKLY, TODAY - timedelta(days=210))
    body = await gql(CASELOAD, {"asOf": None, "from": "2024-01-01", "to": "2024-01-31"})
    assert "errors" not in body, body
    expected = await analytics.arrears(graph, TODAY)
    assert expected.arrears_pence > 2**31
    assert body["data"]["caseload"]["arrearsTotalPence"] == expected.arrears_pence
