"""createMaintenanceCase / changeSchedule (caseworkers): results are unions of the outcome and typed errors.

Each successful write publishes an event (`schema.events`) after it commits, for live subscribers.
"""

from __future__ import annotations

from datetime import date
from typing import Annotated

import strawberry

from graph import maintenance as repo
from graph.errors import InvalidValue, NotFound
from schema.context import Info
from schema.errors import InvalidInput, NotFoundError, user_error
from schema.events import Event, EventKind, publish
from schema.maintenance.types import Frequency, MaintenanceCase, Schedule, Scheme, parse_case_id, parties_of
from schema.people.queries import parse_person_id


@strawberry.input
class CreateMaintenanceCaseInput:
    scheme: Scheme  # type: ignore[valid-type]
    paying_parent_id: strawberry.ID
    receiving_parent_id: strawberry.ID
    child_ids: list[strawberry.ID]


@strawberry.input(description="From `startDate` the case's schedule is this one; the current one ends the day before.")
class ChangeScheduleInput:
    case_id: strawberry.ID
    amount_pence: int
    frequency: Frequency  # type: ignore[valid-type]
    start_date: date


@strawberry.type
class ScheduleChangeSuccess:
    case: MaintenanceCase
    started: Schedule
    ended: Schedule | None = strawberry.field(description="The schedule cut short, if one was running.")


CreateMaintenanceCaseResult = Annotated[
    MaintenanceCase | InvalidInput | NotFoundError, strawberry.union("CreateMaintenanceCaseResult")
]
ChangeScheduleResult = Annotated[
    ScheduleChangeSuccess | InvalidInput | NotFoundError, strawberry.union("ChangeScheduleResult")
]


@strawberry.type
class MaintenanceMutation:
    @strawberry.mutation
    async def create_maintenance_case(
        self, info: Info, input: CreateMaintenanceCaseInput
    ) -> CreateMaintenanceCaseResult | None:
        try:
            created = await repo.create_case(
                info.context.graph,
                input.scheme,
                parse_person_id(input.paying_parent_id, "payingParentId"),
                parse_person_id(input.receiving_parent_id, "receivingParentId"),
                [parse_person_id(c, "childIds") for c in input.child_ids],
            )
        except (InvalidValue, NotFound) as exc:
            return user_error(exc)  # type: ignore[return-value]
        await publish(
            info.context.events,
            Event(EventKind.MAINTENANCE_CASE_OPENED, parties_of(created), created.id, {"scheme": created.scheme.value}),
        )
        return MaintenanceCase.from_model(created)

    @strawberry.mutation
    async def change_schedule(self, info: Info, input: ChangeScheduleInput) -> ChangeScheduleResult | None:
        graph = info.context.graph
        try:
            case_id = parse_case_id(input.case_id, "caseId")
            change = await repo.change_schedule(graph, case_id, input.amount_pence, input.frequency, input.start_date)
            case = await repo.get_case(graph, case_id)
        except (InvalidValue, NotFound) as exc:
            return user_error(exc)  # type: ignore[return-value]
        started = change.started
        await publish(
            info.context.events,
            Event(
                EventKind.SCHEDULE_CHANGED,
                parties_of(case),
                case.id,
                {
                    "amountPence": started.amount_pence,
                    "frequency": started.frequency.value,
                    "startDate": started.start_date.isoformat(),
                },
            ),
        )
        parties = parties_of(case)
        return ScheduleChangeSuccess(
            case=MaintenanceCase.from_model(case),
            started=Schedule.from_model(started, parties),
            ended=Schedule.from_model(change.ended, parties) if change.ended else None,
        )
