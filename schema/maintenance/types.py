"""Child maintenance in the API: cases, schedules, payments and the live financial position.

Every object here carries its case's `parties` (paying, receiving parent ids, not exposed). The field
policy uses them: a citizen reads these objects only as a parent in the case, and only the fields their
role in it allows (`paying_parent` / `receiving_parent` in config/policies.yaml). Money is integer pence.
The position is computed from the graph on each read (`graph.money`); nothing derived is stored.
"""

from __future__ import annotations

import uuid
from datetime import UTC, date, datetime
from typing import Annotated

import strawberry

from graph import money
from graph.errors import InvalidValue
from graph.maintenance import PersonCase
from schema.context import Context, Info
from schema.errors import HubError
from schema.people.types import Person

Scheme = strawberry.enum(money.Scheme, name="MaintenanceScheme")
Frequency = strawberry.enum(money.Frequency, name="PaymentFrequency")
CaseRole = strawberry.enum(money.Role, name="CaseRole", description="Which parent's view of a case.")
InstalmentStatus = strawberry.enum(money.InstalmentStatus, name="InstalmentStatus")
PaymentStatus = strawberry.enum(money.PaymentStatus, name="MaintenancePaymentStatus")

Parties = tuple[str, str]  # (paying parent id, receiving parent id)


def parties_of(case: money.MaintenanceCase) -> Parties:
    return (case.paying_parent_id, case.receiving_parent_id)


def parse_case_id(value: str, field: str = "id") -> str:
    try:
        return str(uuid.UUID(value))
    except (ValueError, AttributeError, TypeError):
        raise InvalidValue(field, f"{value!r} is not a case id (a UUID)") from None


def viewer_role(ctx: Context, case: money.MaintenanceCase, view_as: money.Role | None) -> money.Role:
    """Whose view of `case` this caller gets: a parent their own; staff the one they ask for."""
    if ctx.access.self_only:
        principal = ctx.principal
        role = case.role_of(principal.person_id) if principal and principal.person_id else None
        if role is None or (view_as is not None and money.Role(view_as) is not role):
            raise HubError("Not allowed: this view of the case", "FORBIDDEN")
        return role
    if view_as is None:
        raise HubError("viewAs: staff say whose view of the case they want (PAYING or RECEIVING)", "BAD_USER_INPUT")
    return money.Role(view_as)


def is_party(ctx: Context, case: money.MaintenanceCase) -> bool:
    """Whether the caller may see that the case exists: staff with the grant, or a parent in it."""
    if not ctx.access.self_only:
        return True
    principal = ctx.principal
    return principal is not None and principal.person_id is not None and case.role_of(principal.person_id) is not None


@strawberry.type(name="MaintenanceSchedule", description="An amount of maintenance per instalment from a start date.")
class Schedule:
    parties: strawberry.Private[Parties]
    id: strawberry.ID
    amount_pence: int = strawberry.field(description="Maintenance per instalment, before any fee or deduction.")
    frequency: Frequency  # type: ignore[valid-type]
    start_date: date
    end_date: date | None

    @classmethod
    def from_model(cls, s: money.Schedule, parties: Parties) -> Schedule:
        return cls(
            parties=parties,
            id=strawberry.ID(s.id),
            amount_pence=s.amount_pence,
            frequency=s.frequency,
            start_date=s.start_date,
            end_date=s.end_date,
        )


@strawberry.type(name="MaintenancePayment", description="Money received from the paying parent (gross of any fee).")
class Payment:
    parties: strawberry.Private[Parties]
    id: strawberry.ID
    amount_pence: int
    paid_at: datetime
    status: PaymentStatus  # type: ignore[valid-type]
    due_date: date | None

    @classmethod
    def from_model(cls, p: money.Payment, parties: Parties) -> Payment:
        return cls(
            parties=parties,
            id=strawberry.ID(p.id),
            amount_pence=p.amount_pence,
            paid_at=p.paid_at,
            status=p.status,
            due_date=p.due_date,
        )


@strawberry.type
class PayingInstalment:
    parties: strawberry.Private[Parties]
    due_date: date
    amount_pence: int
    fee_pence: int
    total_pence: int
    paid_pence: int
    status: InstalmentStatus  # type: ignore[valid-type]


@strawberry.type
class NextPayment:
    parties: strawberry.Private[Parties]
    due_date: date
    amount_pence: int = strawberry.field(description="Still to pay on this instalment, fee included.")
    fee_pence: int


@strawberry.type(description="The paying parent's position: amounts include the Collect & Pay fee (20%).")
class PayingPosition:
    parties: strawberry.Private[Parties]
    case_id: strawberry.ID
    scheme: Scheme  # type: ignore[valid-type]
    as_of: date
    due_to_date_pence: int
    fees_to_date_pence: int
    paid_pence: int
    outstanding_pence: int
    arrears_pence: int
    credit_pence: int
    next_payment: NextPayment | None
    instalments: list[PayingInstalment]
    recent_payments: list[Payment]

    @classmethod
    def from_model(cls, p: money.PayingPosition, parties: Parties) -> PayingPosition:
        nxt = p.next_payment
        return cls(
            parties=parties,
            case_id=strawberry.ID(p.case_id),
            scheme=p.scheme,
            as_of=p.as_of,
            due_to_date_pence=p.due_to_date_pence,
            fees_to_date_pence=p.fees_to_date_pence,
            paid_pence=p.paid_pence,
            outstanding_pence=p.outstanding_pence,
            arrears_pence=p.arrears_pence,
            credit_pence=p.credit_pence,
            next_payment=(
                NextPayment(
                    parties=parties, due_date=nxt.due_date, amount_pence=nxt.amount_pence, fee_pence=nxt.fee_pence
                )
                if nxt
                else None
            ),
            instalments=[
                PayingInstalment(
                    parties=parties,
                    due_date=i.due_date,
                    amount_pence=i.amount_pence,
                    fee_pence=i.fee_pence,
                    total_pence=i.total_pence,
                    paid_pence=i.paid_pence,
                    status=i.status,
                )
                for i in p.instalments
            ],
            recent_payments=[Payment.from_model(y, parties) for y in p.recent_payments],
        )


@strawberry.type
class ReceivingInstalment:
    parties: strawberry.Private[Parties]
    due_date: date
    expected_pence: int
    deduction_pence: int
    received_pence: int
    status: InstalmentStatus  # type: ignore[valid-type]


@strawberry.type
class NextReceipt:
    parties: strawberry.Private[Parties]
    due_date: date
    amount_pence: int = strawberry.field(description="Still to receive from this instalment, net of deduction.")
    deduction_pence: int


@strawberry.type(
    description="The receiving parent's position: amounts are net of the Collect & Pay deduction (4%). "
    "Nothing about the paying parent beyond the money owed to the receiving parent."
)
class ReceivingPosition:
    parties: strawberry.Private[Parties]
    case_id: strawberry.ID
    scheme: Scheme  # type: ignore[valid-type]
    as_of: date
    expected_to_date_pence: int
    deductions_to_date_pence: int
    received_pence: int
    shortfall_pence: int
    next_expected: NextReceipt | None
    instalments: list[ReceivingInstalment]

    @classmethod
    def from_model(cls, p: money.ReceivingPosition, parties: Parties) -> ReceivingPosition:
        nxt = p.next_expected
        return cls(
            parties=parties,
            case_id=strawberry.ID(p.case_id),
            scheme=p.scheme,
            as_of=p.as_of,
            expected_to_date_pence=p.expected_to_date_pence,
            deductions_to_date_pence=p.deductions_to_date_pence,
            received_pence=p.received_pence,
            shortfall_pence=p.shortfall_pence,
            next_expected=(
                NextReceipt(
                    parties=parties,
                    due_date=nxt.due_date,
                    amount_pence=nxt.amount_pence,
                    deduction_pence=nxt.deduction_pence,
                )
                if nxt
                else None
            ),
            instalments=[
                ReceivingInstalment(
                    parties=parties,
                    due_date=i.due_date,
                    expected_pence=i.expected_pence,
                    deduction_pence=i.deduction_pence,
                    received_pence=i.received_pence,
                    status=i.status,
                )
                for i in p.instalments
            ],
        )


FinancialPosition = Annotated[PayingPosition | ReceivingPosition, strawberry.union("FinancialPosition")]


def position_view(case: money.MaintenanceCase, as_of: date, role: money.Role) -> PayingPosition | ReceivingPosition:
    found = money.position(case, as_of, role)
    if isinstance(found, money.PayingPosition):
        return PayingPosition.from_model(found, parties_of(case))
    return ReceivingPosition.from_model(found, parties_of(case))


def today() -> date:
    return datetime.now(UTC).date()


@strawberry.federation.type(keys=["id"], description="A child-maintenance case between two parents.")
class MaintenanceCase:
    parties: strawberry.Private[Parties]
    model: strawberry.Private[money.MaintenanceCase]
    id: strawberry.ID
    scheme: Scheme  # type: ignore[valid-type]
    created_at: datetime

    @classmethod
    def from_model(cls, case: money.MaintenanceCase) -> MaintenanceCase:
        return cls(
            parties=parties_of(case),
            model=case,
            id=strawberry.ID(case.id),
            scheme=case.scheme,
            created_at=case.created_at,
        )

    @classmethod
    async def resolve_reference(cls, info: Info, id: object = None, **_: object) -> MaintenanceCase | None:
        """A gateway's representation: batched through the request's case loader; a bad id is just unknown."""
        try:
            key = parse_case_id(id) if isinstance(id, str) else None
        except InvalidValue:
            key = None
        found = await info.context.loaders.maintenance_case.load(key) if key else None
        return cls.from_model(found) if found and is_party(info.context, found) else None

    @strawberry.field(description="The paying parent (a receiving parent sees only their name).")
    async def paying_parent(self, info: Info) -> Person | None:
        return await _person(info, self.model.paying_parent_id)

    @strawberry.field(description="The receiving parent (a paying parent sees only their name).")
    async def receiving_parent(self, info: Info) -> Person | None:
        return await _person(info, self.model.receiving_parent_id)

    @strawberry.field(description="The qualifying children.")
    async def children(self, info: Info) -> list[Person] | None:
        found = await info.context.loaders.person.load_many(list(self.model.child_ids))
        return [Person.from_model(p) for p in found if p is not None]

    @strawberry.field(description="Schedules, oldest first.")
    def schedules(self) -> list[Schedule] | None:
        return [Schedule.from_model(s, self.parties) for s in self.model.schedules]

    @strawberry.field(description="Payments received, oldest first (the paying parent's detail).")
    def payments(self) -> list[Payment] | None:
        return [Payment.from_model(p, self.parties) for p in self.model.payments]

    @strawberry.field(
        description="The financial position on `asOf` (default today, UTC), computed live. A parent gets the "
        "view of their own role; staff choose one with `viewAs`."
    )
    def position(
        self,
        info: Info,
        as_of: date | None = None,
        view_as: CaseRole | None = None,  # type: ignore[valid-type]
    ) -> FinancialPosition | None:
        role = viewer_role(info.context, self.model, view_as)
        return position_view(self.model, as_of or today(), role)


async def _person(info: Info, person_id: str) -> Person | None:
    found = await info.context.loaders.person.load(person_id)
    return Person.from_model(found) if found else None


def cases_view(ctx: Context, found: list[PersonCase]) -> list[MaintenanceCase]:
    return [MaintenanceCase.from_model(pc.case) for pc in found if is_party(ctx, pc.case)]
