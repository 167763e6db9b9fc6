"""Child-maintenance repository against the real graph server."""

from __future__ import annotations

import asyncio
from datetime import UTC, date, datetime, timedelta

import pytest
from conftest import MakePerson

from graph import maintenance as repo
from graph.driver import Graph
from graph.errors import GraphBusy, InvalidValue, NotFound
from graph.migrations import schema_names
from graph.models import Person
from graph.money import (
    Frequency,
    InstalmentStatus,
    MaintenanceCase,
    NextPayment,
    NextReceipt,
    PayingPosition,
    ReceivingPosition,
    Role,
    Scheme,
    check_schedules,
)

MISSING = "00000000-0000-4000-8000-00000000cafe"


def at(day: date, hour: int = 10) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


async def family_of_three(make_person: MakePerson) -> tuple[Person, Person, Person]:
    payer = await make_person(given="Paul")
    receiver = await make_person(given="Rita")
    child = await make_person(given="Kim", born=date(2015, 3, 1))
    return payer, receiver, child


async def new_case(make_person: MakePerson, graph: Graph, scheme: Scheme = Scheme.COLLECT_AND_PAY) -> MaintenanceCase:
    payer, receiver, child = await family_of_three(make_person)
    return await repo.create_case(graph, scheme, payer.id, receiver.id, [child.id])


async def test_migrations_add_the_maintenance_constraints(graph: Graph) -> None:
    names = await schema_names(graph)
    assert {"maintenance_case_id", "schedule_id", "payment_id", "payment_receipt_key"} <= names


async def test_create_case_links_parents_and_children(graph: Graph, make_person: MakePerson) -> None:
    payer, receiver, child = await family_of_three(make_person)
    sibling = await make_person(given="Lou", born=date(2017, 6, 1))
    created = await repo.create_case(graph, Scheme.DIRECT_PAY, payer.id, receiver.id, [child.id, sibling.id, child.id])
    assert created.scheme is Scheme.DIRECT_PAY
    assert (created.paying_parent_id, created.receiving_parent_id) == (payer.id, receiver.id)
    assert sorted(created.child_ids) == sorted([child.id, sibling.id])
    assert (created.schedules, created.payments) == ((), ())
    assert created.created_at.tzinfo is not None
    assert await repo.get_case(graph, created.id) == created


@pytest.mark.parametrize(
    ("who", "field"),
    [
        ("same-parents", "receivingParentId"),
        ("no-children", "childIds"),
        ("parent-as-child", "childIds"),
        ("too-many-children", "childIds"),
    ],
)
async def test_invalid_cases_are_refused_before_the_graph(
    graph: Graph, make_person: MakePerson, who: str, field: str
) -> None:
    payer, receiver, child = await family_of_three(make_person)
    args = {
        "same-parents": (payer.id, payer.id, [child.id]),
        "no-children": (payer.id, receiver.id, []),
        "parent-as-child": (payer.id, receiver.id, [child.id, receiver.id]),
        "too-many-children": (payer.id, receiver.id, [f"child-{n}" for n in range(repo.MAX_CHILDREN + 1)]),
    }[who]
    before = graph.stats.round_trips
    with pytest.raises(InvalidValue) as info:
        await repo.create_case(graph, Scheme.COLLECT_AND_PAY, *args)
    assert info.value.field == field
    assert graph.stats.round_trips == before


async def test_a_case_needs_people_who_exist(graph: Graph, make_person: MakePerson) -> None:
    payer, receiver, child = await family_of_three(make_person)
    for args in (
        (MISSING, receiver.id, [child.id]),
        (payer.id, MISSING, [child.id]),
        (payer.id, receiver.id, [MISSING]),
    ):
        with pytest.raises(NotFound) as info:
            await repo.create_case(graph, Scheme.COLLECT_AND_PAY, *args)
        assert (info.value.kind, info.value.key) == ("Person", MISSING)
    assert await repo.cases_for_person(graph, [payer.id, receiver.id]) == [[], []]


async def test_schedules_are_added_changed_and_never_overlap(graph: Graph, make_person: MakePerson) -> None:
    case = await new_case(make_person, graph)
    first = await repo.add_schedule(graph, case.id, 1001, Frequency.WEEKLY, date(2024, 1, 1))
    with pytest.raises(InvalidValue):  # open-ended first schedule: another cannot simply be added
        await repo.add_schedule(graph, case.id, 2000, Frequency.MONTHLY, date(2024, 6, 1))
    change = await repo.change_schedule(graph, case.id, 1500, Frequency.MONTHLY, date(2024, 3, 31))
    assert change.ended is not None and change.ended.id == first.id
    assert change.ended.end_date == date(2024, 3, 30)
    assert (change.started.amount_pence, change.started.start_date, change.started.end_date) == (
        1500,
        date(2024, 3, 31),
        None,
    )
    with pytest.raises(InvalidValue) as info:  # must start after the current schedule starts
        await repo.change_schedule(graph, case.id, 900, Frequency.WEEKLY, date(2024, 3, 31))
    assert info.value.field == "startDate"
    stored = await repo.get_case(graph, case.id)
    assert [(s.id, s.start_date, s.end_date) for s in stored.schedules] == [
        (first.id, date(2024, 1, 1), date(2024, 3, 30)),
        (change.started.id, date(2024, 3, 31), None),
    ]


async def test_a_change_after_a_schedule_has_ended_leaves_it_as_it_was(graph: Graph, make_person: MakePerson) -> None:
    case = await new_case(make_person, graph)
    fixed = await repo.add_schedule(graph, case.id, 1000, Frequency.FORTNIGHTLY, date(2024, 1, 1), date(2024, 2, 29))
    change = await repo.change_schedule(graph, case.id, 1200, Frequency.FORTNIGHTLY, date(2024, 4, 1))
    assert change.ended is None
    stored = await repo.get_case(graph, case.id)
    assert stored.schedules == (fixed, change.started)


async def test_schedule_writes_check_their_input_and_the_case(graph: Graph, make_person: MakePerson) -> None:
    case = await new_case(make_person, graph)
    for amount in (0, -100, 10**12):
        with pytest.raises(InvalidValue):
            await repo.add_schedule(graph, case.id, amount, Frequency.WEEKLY, date(2024, 1, 1))
    with pytest.raises(InvalidValue) as info:
        await repo.add_schedule(graph, case.id, 100, Frequency.WEEKLY, date(2024, 1, 2), date(2024, 1, 1))
    assert info.value.field == "endDate"
    with pytest.raises(ValueError):
        await repo.add_schedule(graph, case.id, 100, "DAILY", date(2024, 1, 1))  # type: ignore[arg-type]
    with pytest.raises(NotFound):
        await repo.add_schedule(graph, MISSING, 100, Frequency.WEEKLY, date(2024, 1, 1))
    with pytest.raises(NotFound):
        await repo.change_schedule(graph, MISSING, 100, Frequency.WEEKLY, date(2024, 1, 1))
    assert (await repo.get_case(graph, case.id)).schedules == ()


async def test_concurrent_schedule_changes_leave_no_overlap(graph: Graph, make_person: MakePerson) -> None:
    """Writers on one case queue on its version: each change applies whole, is refused, or (when the driver's
    retry budget, 1 s in tests, runs out under contention) fails having written nothing."""
    case = await new_case(make_person, graph)
    await repo.add_schedule(graph, case.id, 1000, Frequency.WEEKLY, date(2024, 1, 1))
    starts = [date(2024, 2, 1) + timedelta(days=7 * n) for n in range(6)]
    results = await asyncio.gather(
        *(repo.change_schedule(graph, case.id, 1000 + n, Frequency.WEEKLY, d) for n, d in enumerate(starts)),
        return_exceptions=True,
    )
    allowed = (InvalidValue, GraphBusy)
    unexpected = [r for r in results if isinstance(r, BaseException) and not isinstance(r, allowed)]
    assert not unexpected, [repr(e) for e in unexpected]
    stored = await repo.get_case(graph, case.id)
    check_schedules(stored.schedules)  # raises if any two overlap
    assert stored.schedules[-1].end_date is None
    applied = [r for r in results if not isinstance(r, BaseException)]
    assert len(stored.schedules) == 1 + len(applied)


async def test_a_receipt_is_applied_once(graph: Graph, make_person: MakePerson) -> None:
    case = await new_case(make_person, graph)
    paid_at = at(date(2024, 1, 1))
    first = await repo.record_payment(graph, case.id, 1201, paid_at, "bank-ref-1", due_date=date(2024, 1, 1))
    again = await repo.record_payment(graph, case.id, 1201, paid_at, "bank-ref-1", due_date=date(2024, 1, 1))
    assert (first.applied, again.applied) == (True, False)
    assert again.payment == first.payment
    assert first.payment.paid_at == paid_at
    assert first.payment.due_date == date(2024, 1, 1)
    stored = await repo.get_case(graph, case.id)
    assert stored.payments == (first.payment,)


async def test_a_receipt_key_reused_for_another_payment_is_refused(graph: Graph, make_person: MakePerson) -> None:
    case = await new_case(make_person, graph)
    other = await new_case(make_person, graph)
    paid_at = at(date(2024, 1, 1))
    key = f"ref-{case.id}"
    await repo.record_payment(graph, case.id, 1000, paid_at, key)
    for case_id, amount in ((case.id, 999), (other.id, 1000)):
        with pytest.raises(InvalidValue) as info:
            await repo.record_payment(graph, case_id, amount, paid_at, key)
        assert info.value.field == "receiptKey"
    assert len((await repo.get_case(graph, case.id)).payments) == 1
    assert (await repo.get_case(graph, other.id)).payments == ()


async def test_bad_payments_are_refused_and_change_nothing(graph: Graph, make_person: MakePerson) -> None:
    case = await new_case(make_person, graph)
    good = at(date(2024, 1, 1))
    bad = [
        (case.id, 0, good, "k", "amountPence"),
        (case.id, 100, good, "  ", "receiptKey"),
        (case.id, 100, good, "k" * 201, "receiptKey"),
        (case.id, 100, datetime(2024, 1, 1, 10), "k", "paidAt"),
        (case.id, 100, datetime.now(UTC) + timedelta(days=1), "k", "paidAt"),
    ]
    for case_id, amount, paid_at, key, field in bad:
        with pytest.raises(InvalidValue) as info:
            await repo.record_payment(graph, case_id, amount, paid_at, key)
        assert info.value.field == field
    with pytest.raises(NotFound):
        await repo.record_payment(graph, MISSING, 100, good, f"orphan-{case.id}")
    assert (await repo.get_case(graph, case.id)).payments == ()


async def test_concurrent_duplicate_receipts_are_applied_exactly_once(graph: Graph, make_person: MakePerson) -> None:
    for round_ in range(3):
        case = await new_case(make_person, graph)
        key = f"webhook-{case.id}-{round_}"
        results = await asyncio.gather(
            *(repo.record_payment(graph, case.id, 1201, at(date(2024, 1, 8)), key) for _ in range(10))
        )
        assert sum(r.applied for r in results) == 1
        assert len({r.payment.id for r in results}) == 1
        stored = await repo.get_case(graph, case.id)
        assert [p.id for p in stored.payments] == [results[0].payment.id]
        position = await repo.position_for(graph, case.id, date(2024, 1, 8), Role.PAYING)
        assert isinstance(position, PayingPosition) and position.paid_pence == 1201


async def test_get_cases_is_one_round_trip_in_key_order(graph: Graph, make_person: MakePerson) -> None:
    a = await new_case(make_person, graph)
    b = await new_case(make_person, graph, Scheme.DIRECT_PAY)
    await repo.add_schedule(graph, a.id, 1000, Frequency.WEEKLY, date(2024, 1, 1))
    await repo.record_payment(graph, a.id, 1200, at(date(2024, 1, 1)), f"k-{a.id}")
    before = graph.stats.round_trips
    got = await repo.get_cases(graph, [b.id, MISSING, a.id])
    assert graph.stats.round_trips == before + 1
    assert [c.id if c else None for c in got] == [b.id, None, a.id]
    assert got[2] is not None and len(got[2].schedules) == 1 and len(got[2].payments) == 1
    assert await repo.get_cases(graph, []) == []
    with pytest.raises(NotFound):
        await repo.get_case(graph, MISSING)


async def test_cases_for_person_batches_roles(graph: Graph, make_person: MakePerson) -> None:
    payer, receiver, child = await family_of_three(make_person)
    other_child = await make_person(given="Ola", born=date(2019, 1, 1))
    first = await repo.create_case(graph, Scheme.COLLECT_AND_PAY, payer.id, receiver.id, [child.id])
    # The roles can be the other way round in another case (a different child).
    second = await repo.create_case(graph, Scheme.DIRECT_PAY, receiver.id, payer.id, [other_child.id])
    before = graph.stats.round_trips
    got = await repo.cases_for_person(graph, [payer.id, receiver.id, child.id, MISSING])
    assert graph.stats.round_trips == before + 1
    assert [[(pc.case.id, pc.role) for pc in cases] for cases in got] == [
        [(first.id, Role.PAYING), (second.id, Role.RECEIVING)],
        [(first.id, Role.RECEIVING), (second.id, Role.PAYING)],
        [],
        [],
    ]
    assert got[0][0].case == first
    assert await repo.cases_for_person(graph, []) == []


async def test_position_of_a_seeded_case_end_to_end(graph: Graph, make_person: MakePerson) -> None:
    """Collect & Pay, £10.01 a week from 1 January 2024, then £20 a month from 31 January; as of 29 February."""
    case = await new_case(make_person, graph)
    await repo.add_schedule(graph, case.id, 1001, Frequency.WEEKLY, date(2024, 1, 1))
    await repo.change_schedule(graph, case.id, 2000, Frequency.MONTHLY, date(2024, 1, 31))
    # Weekly 1, 8, 15, 22, 29 Jan at 1201p (1001 + 200 fee); monthly 31 Jan and 29 Feb at 2400p (2000 + 400).
    receipts = [(date(2024, 1, 1), 1201), (date(2024, 1, 8), 1201), (date(2024, 1, 16), 1000), (date(2024, 2, 1), 1500)]
    for n, (day, pence) in enumerate(receipts):
        await repo.record_payment(graph, case.id, pence, at(day), f"seed-{case.id}-{n}")
    await repo.record_payment(graph, case.id, 9999, at(date(2024, 3, 5)), f"seed-{case.id}-late")  # after as_of

    before = graph.stats.round_trips
    payer = await repo.position_for(graph, case.id, date(2024, 2, 29), Role.PAYING)
    assert graph.stats.round_trips == before + 1
    assert isinstance(payer, PayingPosition)
    assert [(i.due_date, i.total_pence, i.paid_pence, i.status) for i in payer.instalments] == [
        (date(2024, 1, 1), 1201, 1201, InstalmentStatus.PAID),
        (date(2024, 1, 8), 1201, 1201, InstalmentStatus.PAID),
        (date(2024, 1, 15), 1201, 1201, InstalmentStatus.PAID),
        (date(2024, 1, 22), 1201, 1201, InstalmentStatus.PAID),
        (date(2024, 1, 29), 1201, 98, InstalmentStatus.PART_PAID),
        (date(2024, 1, 31), 2400, 0, InstalmentStatus.MISSED),
        (date(2024, 2, 29), 2400, 0, InstalmentStatus.DUE),
    ]
    assert payer.due_to_date_pence == 5 * 1201 + 2 * 2400
    assert payer.fees_to_date_pence == 5 * 200 + 2 * 400
    assert payer.paid_pence == 4902
    assert payer.arrears_pence == (1201 - 98) + 2400
    assert payer.outstanding_pence == payer.arrears_pence + 2400
    assert payer.next_payment == NextPayment(date(2024, 2, 29), 2400, 400)
    assert [p.amount_pence for p in payer.recent_payments] == [1500, 1000, 1201, 1201]

    receiver = await repo.position_for(graph, case.id, date(2024, 2, 29), Role.RECEIVING)
    assert isinstance(receiver, ReceivingPosition)
    # Net 961p a week (1001 - 40) and 1920p a month (2000 - 80); 98p of maintenance passes on 94p (98 - 4).
    assert receiver.expected_to_date_pence == 5 * 961 + 2 * 1920
    assert receiver.received_pence == 4 * 961 + 94
    assert receiver.shortfall_pence == (961 - 94) + 1920
    assert receiver.next_expected == NextReceipt(date(2024, 2, 29), 1920, 80)

    later = await repo.position_for(graph, case.id, date(2024, 3, 5), Role.PAYING)
    assert isinstance(later, PayingPosition) and later.paid_pence == 4902 + 9999
    with pytest.raises(NotFound):
        await repo.position_for(graph, MISSING, date(2024, 3, 5), Role.PAYING)
