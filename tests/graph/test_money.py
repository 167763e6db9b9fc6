"""Child-maintenance maths: fees and rounding, due dates, schedule changes, allocation, the position.

Plain unit tests for the documented rules and examples; hypothesis for the invariants over wide inputs.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, date, datetime, timedelta
from decimal import ROUND_HALF_UP, Decimal

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from graph.errors import InvalidValue
from graph.money import (
    COLLECTION_DEDUCTION_BASIS_POINTS,
    COLLECTION_FEE_BASIS_POINTS,
    RECENT_PAYMENTS,
    Frequency,
    InstalmentStatus,
    MaintenanceCase,
    NextPayment,
    NextReceipt,
    PayingPosition,
    Payment,
    ReceivingPosition,
    Role,
    Schedule,
    Scheme,
    add_months,
    allocate,
    check_schedules,
    collection_deduction,
    collection_fee,
    due_dates,
    end_before,
    instalments,
    paying_position,
    percent_of,
    position,
    receiving_position,
)

PAID, PART_PAID, MISSED, DUE = (
    InstalmentStatus.PAID,
    InstalmentStatus.PART_PAID,
    InstalmentStatus.MISSED,
    InstalmentStatus.DUE,
)


def at(day: date, hour: int = 12) -> datetime:
    return datetime(day.year, day.month, day.day, hour, tzinfo=UTC)


def pay(day: date, pence: int, n: int = 0) -> Payment:
    return Payment(id=f"pay-{day.isoformat()}-{n}", amount_pence=pence, paid_at=at(day), receipt_key=f"r-{day}-{n}")


def case(scheme: Scheme, schedules: Sequence[Schedule], payments: Sequence[Payment] = ()) -> MaintenanceCase:
    return MaintenanceCase(
        id="case-1",
        scheme=scheme,
        created_at=at(date(2023, 12, 1)),
        paying_parent_id="payer",
        receiving_parent_id="receiver",
        child_ids=("child",),
        schedules=tuple(schedules),
        payments=tuple(payments),
    )


def weekly(amount: int, start: date, end: date | None = None, sid: str = "s1") -> Schedule:
    return Schedule(sid, amount, Frequency.WEEKLY, start, end)


# --- fees and rounding ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("amount", "basis_points", "expected"),
    [
        (1001, 2000, 200),  # 200.2 -> 200
        (1002, 2000, 200),  # 200.4 -> 200
        (1003, 2000, 201),  # 200.6 -> 201
        (1004, 2000, 201),  # 200.8 -> 201
        (1005, 2000, 201),  # exact
        (1001, 400, 40),  # 40.04 -> 40
        (1012, 400, 40),  # 40.48 -> 40
        (1013, 400, 41),  # 40.52 -> 41
        (1, 2000, 0),  # 0.2 -> 0
        (3, 2000, 1),  # 0.6 -> 1
        (12, 400, 0),  # 0.48 -> 0
        (13, 400, 1),  # 0.52 -> 1
        (0, 2000, 0),
        # Exact halves (they cannot occur at 20% or 4%): always up.
        (1, 5000, 1),  # 0.5 -> 1
        (3, 5000, 2),  # 1.5 -> 2
        (5, 5000, 3),  # 2.5 -> 3 (half-up, not banker's 2)
        (25, 200, 1),  # 0.5 -> 1
        (125, 200, 3),  # 2.5 -> 3
    ],
)
def test_percent_of_rounds_half_up_to_the_penny(amount: int, basis_points: int, expected: int) -> None:
    assert percent_of(amount, basis_points) == expected


def test_percent_of_refuses_negative_input() -> None:
    with pytest.raises(ValueError):
        percent_of(-1, 2000)
    with pytest.raises(ValueError):
        percent_of(1, -1)


def test_fees_by_scheme() -> None:
    assert collection_fee(1001, Scheme.COLLECT_AND_PAY) == 200
    assert collection_deduction(1001, Scheme.COLLECT_AND_PAY) == 40
    assert collection_fee(1001, Scheme.DIRECT_PAY) == 0
    assert collection_deduction(1001, Scheme.DIRECT_PAY) == 0


@given(st.integers(0, 10**12), st.integers(0, 10_000))
def test_percent_of_is_decimal_half_up(amount: int, basis_points: int) -> None:
    exact = Decimal(amount) * Decimal(basis_points) / Decimal(10_000)
    result = percent_of(amount, basis_points)
    assert type(result) is int
    assert result == int(exact.quantize(Decimal(1), rounding=ROUND_HALF_UP))
    assert abs(Decimal(result) - exact) <= Decimal("0.5")


@given(st.integers(0, 10**12))
def test_collect_and_pay_rates_never_meet_an_exact_half_penny(amount: int) -> None:
    """20% is amount/5 and 4% is amount/25: neither has .5 as its fraction, so half-up = nearest."""
    for bp in (COLLECTION_FEE_BASIS_POINTS, COLLECTION_DEDUCTION_BASIS_POINTS):
        assert (amount * bp) % 10_000 != 5_000
    fee = collection_fee(amount, Scheme.COLLECT_AND_PAY)
    deduction = collection_deduction(amount, Scheme.COLLECT_AND_PAY)
    assert type(fee) is int and type(deduction) is int
    assert 0 <= deduction <= fee <= amount


# --- due dates -----------------------------------------------------------------------------------


def take(frequency: Frequency, start: date, n: int) -> list[date]:
    out = []
    for d in due_dates(frequency, start):
        out.append(d)
        if len(out) == n:
            break
    return out


def test_monthly_from_the_31st_clamps_and_returns_to_the_31st() -> None:
    assert take(Frequency.MONTHLY, date(2024, 1, 31), 5) == [
        date(2024, 1, 31),
        date(2024, 2, 29),  # leap year
        date(2024, 3, 31),  # back to the 31st: counted from the start, not from February
        date(2024, 4, 30),
        date(2024, 5, 31),
    ]
    assert take(Frequency.MONTHLY, date(2023, 1, 31), 3) == [date(2023, 1, 31), date(2023, 2, 28), date(2023, 3, 31)]


def test_monthly_from_a_leap_day() -> None:
    dates = take(Frequency.MONTHLY, date(2024, 2, 29), 49)
    assert dates[1] == date(2024, 3, 29)
    assert dates[12] == date(2025, 2, 28)
    assert dates[13] == date(2025, 3, 29)
    assert dates[48] == date(2028, 2, 29)


def test_monthly_from_the_30th_and_across_the_year_end() -> None:
    assert take(Frequency.MONTHLY, date(2023, 11, 30), 4) == [
        date(2023, 11, 30),
        date(2023, 12, 30),
        date(2024, 1, 30),
        date(2024, 2, 29),
    ]
    assert take(Frequency.MONTHLY, date(2100, 1, 29), 2) == [date(2100, 1, 29), date(2100, 2, 28)]  # 2100: no leap


@pytest.mark.parametrize(
    ("frequency", "expected"),
    [
        (Frequency.WEEKLY, [date(2024, 2, 22), date(2024, 2, 29), date(2024, 3, 7)]),
        (Frequency.FORTNIGHTLY, [date(2024, 2, 22), date(2024, 3, 7), date(2024, 3, 21)]),
        (Frequency.FOUR_WEEKLY, [date(2024, 2, 22), date(2024, 3, 21), date(2024, 4, 18)]),
    ],
)
def test_day_based_frequencies_cross_the_leap_day(frequency: Frequency, expected: list[date]) -> None:
    assert take(frequency, date(2024, 2, 22), 3) == expected


def test_due_dates_stop_at_the_end_inclusive() -> None:
    assert list(due_dates(Frequency.WEEKLY, date(2024, 1, 1), date(2024, 1, 15))) == [
        date(2024, 1, 1),
        date(2024, 1, 8),
        date(2024, 1, 15),
    ]
    assert list(due_dates(Frequency.MONTHLY, date(2024, 1, 31), date(2024, 1, 31))) == [date(2024, 1, 31)]
    assert list(due_dates(Frequency.MONTHLY, date(9999, 11, 30))) == [date(9999, 11, 30), date(9999, 12, 30)]


dates = st.dates(date(1990, 1, 1), date(2090, 12, 31))


@given(dates, st.integers(0, 240))
def test_monthly_dates_keep_the_start_day_clamped_to_month_end(start: date, n: int) -> None:
    due = add_months(start, n)
    months = (due.year - start.year) * 12 + due.month - start.month
    assert months == n
    last_day = (add_months(due.replace(day=1), 1) - timedelta(days=1)).day
    assert due.day == min(start.day, last_day)


@given(dates, st.sampled_from(list(Frequency)), st.integers(2, 60))
def test_due_dates_strictly_increase_with_the_frequency_step(start: date, frequency: Frequency, n: int) -> None:
    got = take(frequency, start, n)
    assert got[0] == start and len(got) == n
    steps = {(b - a).days for a, b in zip(got, got[1:], strict=False)}
    if frequency is Frequency.MONTHLY:
        assert steps <= set(range(28, 32))
    else:
        assert steps == {{Frequency.WEEKLY: 7, Frequency.FORTNIGHTLY: 14, Frequency.FOUR_WEEKLY: 28}[frequency]}


# --- schedules and changes -----------------------------------------------------------------------


def test_a_change_ends_the_old_schedule_the_day_before() -> None:
    old = weekly(1000, date(2024, 1, 1))
    ended = end_before(old, date(2024, 1, 15))
    assert ended.end_date == date(2024, 1, 14)
    new = weekly(1500, date(2024, 1, 15), sid="s2")
    # The old schedule's 15 Jan instalment is now the new schedule's first; nothing is doubled.
    due = instalments([ended, new], Scheme.DIRECT_PAY, date(2024, 1, 29))
    assert [(i.due_date.day, i.amount_pence) for i in due] == [(1, 1000), (8, 1000), (15, 1500), (22, 1500), (29, 1500)]


def test_a_change_mid_period_drops_the_old_schedules_later_dates_without_pro_rating() -> None:
    ended = end_before(Schedule("m", 5000, Frequency.MONTHLY, date(2024, 1, 31)), date(2024, 3, 10))
    new = weekly(1200, date(2024, 3, 10), sid="w")
    due = instalments([new, ended], Scheme.DIRECT_PAY, date(2024, 3, 31))  # any order in, oldest first out
    assert [(i.due_date, i.amount_pence) for i in due] == [
        (date(2024, 1, 31), 5000),
        (date(2024, 2, 29), 5000),
        (date(2024, 3, 10), 1200),
        (date(2024, 3, 17), 1200),
        (date(2024, 3, 24), 1200),
        (date(2024, 3, 31), 1200),
    ]


def test_end_before_refuses_a_change_that_does_not_start_later() -> None:
    old = weekly(1000, date(2024, 1, 8))
    for start in (date(2024, 1, 8), date(2024, 1, 1)):
        with pytest.raises(InvalidValue) as info:
            end_before(old, start)
        assert info.value.field == "startDate"
    already_ended = weekly(1000, date(2024, 1, 8), date(2024, 1, 20))
    assert end_before(already_ended, date(2024, 2, 1)) == already_ended
    assert end_before(already_ended, date(2024, 1, 15)).end_date == date(2024, 1, 14)


@pytest.mark.parametrize(
    "schedules",
    [
        [weekly(1000, date(2024, 1, 1)), weekly(1000, date(2024, 2, 1), sid="s2")],  # open-ended then another
        [weekly(1000, date(2024, 1, 1), date(2024, 2, 1)), weekly(1000, date(2024, 2, 1), sid="s2")],  # same day
        [weekly(1000, date(2024, 1, 1), date(2024, 3, 1)), weekly(1000, date(2024, 2, 1), date(2024, 2, 5), "s2")],
    ],
)
def test_overlapping_schedules_are_refused(schedules: list[Schedule]) -> None:
    with pytest.raises(InvalidValue):
        check_schedules(schedules)


@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        (weekly(0, date(2024, 1, 1)), "amountPence"),
        (weekly(-5, date(2024, 1, 1)), "amountPence"),
        (weekly(True, date(2024, 1, 1)), "amountPence"),  # type: ignore[arg-type]
        (weekly(10**9, date(2024, 1, 1)), "amountPence"),
        (weekly(100, date(2024, 1, 2), date(2024, 1, 1)), "endDate"),
    ],
)
def test_bad_schedules_are_refused(schedule: Schedule, field: str) -> None:
    with pytest.raises(InvalidValue) as info:
        check_schedules([schedule])
    assert info.value.field == field


@given(
    dates,
    st.sampled_from(list(Frequency)),
    st.sampled_from(list(Frequency)),
    st.integers(1, 400),
    st.integers(0, 400),
)
def test_schedule_change_boundaries(
    start: date, old_freq: Frequency, new_freq: Frequency, change_after: int, horizon: int
) -> None:
    old = Schedule("old", 1000, old_freq, start)
    new_start = start + timedelta(days=change_after)
    new = Schedule("new", 2000, new_freq, new_start)
    through = new_start + timedelta(days=horizon)
    changed = instalments([end_before(old, new_start), new], Scheme.COLLECT_AND_PAY, through)
    unchanged_old = instalments([old], Scheme.COLLECT_AND_PAY, through)
    before = [i for i in changed if i.schedule_id == "old"]
    after = [i for i in changed if i.schedule_id == "new"]
    assert before == [i for i in unchanged_old if i.due_date < new_start]
    assert after[0].due_date == new_start
    assert all(i.due_date >= new_start for i in after)
    assert len({i.due_date for i in changed}) == len(changed)  # never two instalments on one day


# --- allocation ----------------------------------------------------------------------------------


def test_allocation_fills_the_oldest_first() -> None:
    assert allocate([1201, 1201, 1201], 1801).allocated == (1201, 600, 0)
    assert allocate([100, 100], 250).unallocated_pence == 50
    assert allocate([], 10).unallocated_pence == 10
    with pytest.raises(ValueError):
        allocate([100], -1)


@given(st.lists(st.integers(0, 10**7), max_size=60), st.integers(0, 10**9))
def test_allocation_conserves_money_oldest_first(due: list[int], paid: int) -> None:
    result = allocate(due, paid)
    assert sum(result.allocated) + result.unallocated_pence == paid
    assert all(0 <= a <= d for a, d in zip(result.allocated, due, strict=True))
    assert result.unallocated_pence == max(0, paid - sum(due))
    # Oldest first: once an instalment is short, every later one got nothing.
    short = [i for i, (a, d) in enumerate(zip(result.allocated, due, strict=True)) if a < d]
    if short:
        assert all(a == 0 for a in result.allocated[short[0] + 1 :])


# --- the position: worked examples ---------------------------------------------------------------

JAN = [date(2024, 1, d) for d in (1, 8, 15, 22, 29)]


def test_collect_and_pay_paid_part_paid_missed_and_due() -> None:
    """£10.01 a week: fee 200p (200.2 -> 200), 1201p to pay; deduction 40p (40.04 -> 40), 961p to receive."""
    c = case(Scheme.COLLECT_AND_PAY, [weekly(1001, JAN[0])], [pay(JAN[0], 1201), pay(date(2024, 1, 9), 600)])
    payer = paying_position(c, JAN[3])
    assert [(i.due_date, i.total_pence, i.fee_pence, i.paid_pence, i.status) for i in payer.instalments] == [
        (JAN[0], 1201, 200, 1201, PAID),
        (JAN[1], 1201, 200, 600, PART_PAID),
        (JAN[2], 1201, 200, 0, MISSED),
        (JAN[3], 1201, 200, 0, DUE),  # due today: not yet arrears
    ]
    assert payer.due_to_date_pence == 4804
    assert payer.fees_to_date_pence == 800
    assert payer.paid_pence == 1801
    assert payer.outstanding_pence == 3003
    assert payer.arrears_pence == 601 + 1201
    assert payer.credit_pence == 0
    assert payer.next_payment == NextPayment(JAN[3], 1201, 200)
    assert [p.amount_pence for p in payer.recent_payments] == [600, 1201]  # newest first

    receiver = receiving_position(c, JAN[3])
    assert [(i.expected_pence, i.deduction_pence, i.received_pence, i.status) for i in receiver.instalments] == [
        (961, 40, 961, PAID),
        (961, 40, 576, PART_PAID),  # 600p paid is maintenance first: 600 - 24 (4% of 600) = 576
        (961, 40, 0, MISSED),
        (961, 40, 0, DUE),
    ]
    assert receiver.expected_to_date_pence == 3844
    assert receiver.deductions_to_date_pence == 160
    assert receiver.received_pence == 1537
    assert receiver.shortfall_pence == 385 + 961
    assert receiver.next_expected == NextReceipt(JAN[3], 961, 40)


def test_a_part_payment_covers_maintenance_before_the_fee() -> None:
    c = case(Scheme.COLLECT_AND_PAY, [weekly(1001, JAN[0])], [pay(JAN[0], 1100)])
    payer = paying_position(c, JAN[0])
    assert payer.instalments[0].status is PART_PAID
    assert payer.next_payment == NextPayment(JAN[0], 101, 101)  # only fee is left to pay
    receiver = receiving_position(c, JAN[0])
    assert receiver.instalments[0].received_pence == 961  # the child's money is whole
    assert receiver.next_expected == NextReceipt(JAN[0], 0, 0)


def test_direct_pay_has_no_fees_and_both_views_agree() -> None:
    c = case(Scheme.DIRECT_PAY, [weekly(1001, JAN[0])], [pay(JAN[0], 1001), pay(JAN[1], 500)])
    payer = paying_position(c, JAN[2])
    receiver = receiving_position(c, JAN[2])
    assert (payer.due_to_date_pence, payer.fees_to_date_pence, payer.paid_pence) == (3003, 0, 1501)
    assert (receiver.expected_to_date_pence, receiver.deductions_to_date_pence, receiver.received_pence) == (
        3003,
        0,
        1501,
    )
    assert payer.arrears_pence == receiver.shortfall_pence == 501
    assert [i.status for i in payer.instalments] == [PAID, PART_PAID, DUE]


def test_credit_is_carried_into_the_next_instalments() -> None:
    """Monthly from 31 January 2024; 17,500p paid covers January, February (29th), March and half of April."""
    c = case(
        Scheme.DIRECT_PAY,
        [Schedule("m", 5000, Frequency.MONTHLY, date(2024, 1, 31))],
        [pay(date(2024, 1, 31), 17_500)],
    )
    payer = paying_position(c, date(2024, 3, 1))
    assert [i.due_date for i in payer.instalments] == [date(2024, 1, 31), date(2024, 2, 29)]
    assert (payer.due_to_date_pence, payer.paid_pence, payer.credit_pence) == (10_000, 17_500, 7_500)
    assert (payer.outstanding_pence, payer.arrears_pence) == (0, 0)
    assert payer.next_payment == NextPayment(date(2024, 4, 30), 2_500, 0)
    assert receiving_position(c, date(2024, 3, 1)).next_expected == NextReceipt(date(2024, 4, 30), 2_500, 0)


def test_an_instalment_paid_today_moves_the_next_payment_on() -> None:
    c = case(Scheme.COLLECT_AND_PAY, [weekly(1000, JAN[0])], [pay(JAN[0], 1200)])
    payer = paying_position(c, JAN[0])
    assert payer.instalments[0].status is PAID
    assert payer.next_payment == NextPayment(JAN[1], 1200, 200)


def test_payments_after_as_of_are_not_counted_and_dates_are_utc() -> None:
    late_evening = Payment("p1", 1000, datetime(2024, 1, 8, 23, 30, tzinfo=UTC), "k1")
    next_day_in_utc = Payment("p2", 1000, datetime(2024, 1, 8, 23, 30, tzinfo=UTC) + timedelta(hours=1), "k2")
    c = case(Scheme.DIRECT_PAY, [weekly(1000, JAN[0])], [late_evening, next_day_in_utc])
    payer = paying_position(c, JAN[1])
    assert payer.paid_pence == 1000
    assert [p.id for p in payer.recent_payments] == ["p1"]
    assert paying_position(c, date(2024, 1, 9)).paid_pence == 2000


def test_recent_payments_are_the_latest_few_newest_first() -> None:
    payments = [pay(date(2024, 1, 1) + timedelta(days=d), 100 + d) for d in range(8)]
    c = case(Scheme.DIRECT_PAY, [weekly(1000, JAN[0])], payments)
    recent = paying_position(c, date(2024, 2, 1)).recent_payments
    assert len(recent) == RECENT_PAYMENTS
    assert [p.amount_pence for p in recent] == [107, 106, 105, 104, 103]


def test_a_finished_schedule_has_no_next_payment_and_keeps_overpayment_as_credit() -> None:
    c = case(Scheme.DIRECT_PAY, [weekly(1000, JAN[0], JAN[1])], [pay(JAN[0], 2500)])
    payer = paying_position(c, date(2024, 3, 1))
    assert (payer.due_to_date_pence, payer.credit_pence, payer.next_payment) == (2000, 500, None)
    assert receiving_position(c, date(2024, 3, 1)).next_expected is None


def test_a_case_without_schedules_owes_nothing() -> None:
    c = case(Scheme.COLLECT_AND_PAY, [], [pay(JAN[0], 100)])
    payer = paying_position(c, JAN[1])
    assert (payer.due_to_date_pence, payer.credit_pence, payer.instalments, payer.next_payment) == (0, 100, (), None)


def test_a_future_schedule_shows_only_the_next_payment() -> None:
    c = case(Scheme.COLLECT_AND_PAY, [weekly(1001, JAN[2])])
    payer = paying_position(c, JAN[0])
    assert (payer.instalments, payer.due_to_date_pence, payer.next_payment) == ((), 0, NextPayment(JAN[2], 1201, 200))


def test_each_role_gets_its_own_view() -> None:
    c = case(Scheme.COLLECT_AND_PAY, [weekly(1001, JAN[0])], [pay(JAN[0], 1201)])
    assert isinstance(position(c, JAN[1], Role.PAYING), PayingPosition)
    receiving = position(c, JAN[1], Role.RECEIVING)
    assert isinstance(receiving, ReceivingPosition)
    # Nothing about the payer's payments or fees reaches the receiving parent's view.
    assert not {"recent_payments", "fees_to_date_pence", "paid_pence"} & set(ReceivingPosition.__slots__)
    assert (c.role_of("payer"), c.role_of("receiver"), c.role_of("child")) == (Role.PAYING, Role.RECEIVING, None)


# --- the position: invariants --------------------------------------------------------------------


@st.composite
def cases(draw: st.DrawFn) -> tuple[MaintenanceCase, date]:
    scheme = draw(st.sampled_from(list(Scheme)))
    start = draw(st.dates(date(2020, 1, 1), date(2024, 12, 31)))
    schedules = []
    for n in range(draw(st.integers(0, 3))):
        amount = draw(st.integers(1, 200_000))
        frequency = draw(st.sampled_from(list(Frequency)))
        length = draw(st.one_of(st.none(), st.integers(0, 400)))
        end = None if length is None else start + timedelta(days=length)
        schedules.append(Schedule(f"s{n}", amount, frequency, start, end))
        if end is None:
            break
        start = end + timedelta(days=draw(st.integers(1, 60)))
    first = date(2020, 1, 1)
    payments = [
        Payment(
            id=f"p{n}",
            amount_pence=draw(st.integers(1, 500_000)),
            paid_at=at(first + timedelta(days=draw(st.integers(0, 2_200))), draw(st.integers(0, 23))),
            receipt_key=f"k{n}",
        )
        for n in range(draw(st.integers(0, 12)))
    ]
    as_of = draw(st.dates(date(2019, 6, 1), date(2026, 6, 30)))
    return case(scheme, schedules, payments), as_of


@settings(max_examples=150, deadline=None)
@given(cases())
def test_position_invariants(example: tuple[MaintenanceCase, date]) -> None:
    c, as_of = example
    payer = paying_position(c, as_of)
    receiver = receiving_position(c, as_of)
    lines = payer.instalments

    # Money is conserved and never negative; credit and outstanding exclude each other.
    assert payer.paid_pence == sum(i.paid_pence for i in lines) + payer.credit_pence
    assert payer.paid_pence == sum(p.amount_pence for p in c.payments if p.paid_at.date() <= as_of)
    assert payer.due_to_date_pence == sum(i.total_pence for i in lines)
    assert payer.fees_to_date_pence == sum(i.fee_pence for i in lines)
    assert payer.outstanding_pence == max(0, payer.due_to_date_pence - payer.paid_pence)
    assert payer.credit_pence == max(0, payer.paid_pence - payer.due_to_date_pence)
    assert payer.outstanding_pence == 0 or payer.credit_pence == 0
    assert 0 <= payer.arrears_pence <= payer.outstanding_pence
    assert payer.arrears_pence == sum(i.total_pence - i.paid_pence for i in lines if i.due_date < as_of)
    for i in lines:
        assert i.due_date <= as_of
        assert i.total_pence == i.amount_pence + i.fee_pence
        assert i.fee_pence == collection_fee(i.amount_pence, c.scheme)
        assert 0 <= i.paid_pence <= i.total_pence
        unpaid_status = MISSED if i.due_date < as_of else DUE
        assert i.status is (PAID if i.paid_pence == i.total_pence else PART_PAID if i.paid_pence else unpaid_status)

    # Oldest first: nothing is paid after the first instalment that is not paid in full.
    statuses = [i.status for i in lines]
    unpaid = [n for n, s in enumerate(statuses) if s is not PAID]
    if unpaid:
        assert all(s in (MISSED, DUE) for s in statuses[unpaid[0] + 1 :])
    assert statuses.count(PART_PAID) <= 1

    # The receiving side mirrors the paying side, net of the deduction.
    assert [r.status for r in receiver.instalments] == statuses
    assert receiver.expected_to_date_pence + receiver.deductions_to_date_pence == sum(i.amount_pence for i in lines)
    assert 0 <= receiver.received_pence <= receiver.expected_to_date_pence
    assert receiver.shortfall_pence >= 0
    for r, i in zip(receiver.instalments, lines, strict=True):
        assert 0 <= r.received_pence <= r.expected_pence
        if i.paid_pence >= i.amount_pence:  # maintenance covered in full (the fee is paid last)
            assert r.received_pence == r.expected_pence
    if c.scheme is Scheme.DIRECT_PAY:
        assert payer.fees_to_date_pence == receiver.deductions_to_date_pence == 0
        assert receiver.received_pence == payer.paid_pence - payer.credit_pence
        assert receiver.shortfall_pence == payer.arrears_pence

    # The next payment is due today or later and is never more than one instalment.
    if payer.next_payment is not None:
        assert payer.next_payment.due_date >= as_of
        assert receiver.next_expected is not None
        assert receiver.next_expected.due_date == payer.next_payment.due_date
        assert 0 < payer.next_payment.amount_pence
        assert 0 <= payer.next_payment.fee_pence <= payer.next_payment.amount_pence
    else:
        assert receiver.next_expected is None
