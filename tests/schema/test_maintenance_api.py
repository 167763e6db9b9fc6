"""Child maintenance over GraphQL: cases, live positions, mutations, and who sees what, field by field.

The rule under test: each parent sees only their own side. The other parent is another person, reached
through the case, so only their name; never their address, employer, cases or payments. Every path
(`me`, root `maintenanceCase`, nested) is tried, and a refusal must be FORBIDDEN with nothing leaked.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest
from case_support import PAYER_POSTCODE, RECEIVER_POSTCODE, CaseFamily, case_family
from conftest import Gql, MintToken

from graph import audit, maintenance
from graph.driver import Graph
from graph.money import Role, paying_position, receiving_position
from schema import build_schema

RELATED = {"id", "givenName", "familyName"}
CASE_Q = "query($id: ID!) { maintenanceCase(id: $id) { id scheme } }"


@pytest.fixture(scope="module")
async def fam(graph: Graph) -> CaseFamily:
    return await case_family(graph)


def citizen(token: MintToken, fam: CaseFamily, who: str) -> dict[str, str]:
    return {"authorization": f"Bearer {token(None, subject=fam.subjects[who], vot='Cl.Cm.P2')}"}


def codes(body: dict[str, Any]) -> list[str]:
    return [e["extensions"]["code"] for e in body.get("errors", [])]


def person_selections() -> dict[str, str]:
    """Every Person field without required arguments, with a minimal selection: connector fields included."""
    person = build_schema()._schema.type_map["Person"]
    out = {}
    for name, f in person.fields.items():  # type: ignore[attr-defined]
        if any(a.type.__class__.__name__ == "GraphQLNonNull" for a in f.args.values()):
            continue
        t = f.type
        while hasattr(t, "of_type"):
            t = t.of_type
        out[name] = name if hasattr(t, "parse_value") else f"{name} {{ __typename }}"
    return out


POSITION = """position(viewAs: $view) {
  __typename
  ... on PayingPosition { caseId dueToDatePence feesToDatePence paidPence outstandingPence arrearsPence creditPence
      nextPayment { dueDate amountPence feePence } instalments { dueDate totalPence paidPence status }
      recentPayments { amountPence } }
  ... on ReceivingPosition { caseId expectedToDatePence deductionsToDatePence receivedPence shortfallPence
      nextExpected { dueDate amountPence deductionPence } instalments { dueDate receivedPence status } }
}"""


async def test_caseworker_reads_a_case_and_either_parents_live_position(
    gql: Gql, graph: Graph, fam: CaseFamily
) -> None:
    query = f"""query($id: ID!, $view: CaseRole) {{ maintenanceCase(id: $id) {{
        id scheme payingParent {{ id address {{ postcode }} }} receivingParent {{ id address {{ postcode }} }}
        children {{ id }} schedules {{ amountPence frequency startDate endDate }} payments {{ amountPence paidAt }}
        {POSITION} }} }}"""
    today = datetime.now(UTC).date()
    case = await maintenance.get_case(graph, fam.case.id)
    paying = paying_position(case, today)
    receiving = receiving_position(case, today)

    body = await gql(query, {"id": fam.case.id, "view": "PAYING"})
    assert "errors" not in body, body
    got = body["data"]["maintenanceCase"]
    assert got["scheme"] == "COLLECT_AND_PAY"
    assert got["payingParent"] == {"id": fam.payer.id, "address": {"postcode": PAYER_POSTCODE}}
    assert got["receivingParent"] == {"id": fam.receiver.id, "address": {"postcode": RECEIVER_POSTCODE}}
    assert got["children"] == [{"id": fam.child.id}]
    assert got["schedules"][0]["amountPence"] == 10_000 and got["schedules"][0]["frequency"] == "MONTHLY"
    assert [p["amountPence"] for p in got["payments"]] == [5_000]
    pos = got["position"]
    assert pos["__typename"] == "PayingPosition"
    assert (pos["dueToDatePence"], pos["feesToDatePence"], pos["paidPence"], pos["arrearsPence"]) == (
        paying.due_to_date_pence,
        paying.fees_to_date_pence,
        paying.paid_pence,
        paying.arrears_pence,
    )
    assert pos["feesToDatePence"] == 2_000 * len(paying.instalments)  # 20% of £100 per instalment, in pence
    assert isinstance(pos["outstandingPence"], int)

    body = await gql(query, {"id": fam.case.id, "view": "RECEIVING"})
    pos = body["data"]["maintenanceCase"]["position"]
    assert pos["__typename"] == "ReceivingPosition"
    assert (pos["expectedToDatePence"], pos["deductionsToDatePence"], pos["receivedPence"]) == (
        receiving.expected_to_date_pence,
        receiving.deductions_to_date_pence,
        receiving.received_pence,
    )
    assert pos["receivedPence"] == 5_000 - 200  # the £50 covers maintenance first; 4% deducted


async def test_position_as_of_a_date_and_staff_must_choose_a_view(gql: Gql, graph: Graph, fam: CaseFamily) -> None:
    start = fam.case.schedules[0].start_date
    q = (
        "query($id: ID!, $on: Date) { maintenanceCase(id: $id) { position(asOf: $on, viewAs: PAYING) "
        "{ ... on PayingPosition { dueToDatePence asOf } } } }"
    )
    body = await gql(q, {"id": fam.case.id, "on": start.isoformat()})
    assert body["data"]["maintenanceCase"]["position"] == {"dueToDatePence": 12_000, "asOf": start.isoformat()}
    body = await gql("query($id: ID!) { maintenanceCase(id: $id) { position { __typename } } }", {"id": fam.case.id})
    assert codes(body) == ["BAD_USER_INPUT"] and body["data"]["maintenanceCase"]["position"] is None


async def test_person_maintenance_cases_are_batched_through_one_loader_call(
    gql: Gql, fam: CaseFamily, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls: list[list[str]] = []
    original = maintenance.cases_for_person

    async def counting(graph: Graph, ids: list[str]) -> Any:
        calls.append(list(ids))
        return await original(graph, ids)

    monkeypatch.setattr(maintenance, "cases_for_person", counting)
    body = await gql(
        "query($a: ID!, $b: ID!) { a: person(id: $a) { maintenanceCases { id } } "
        "b: person(id: $b) { maintenanceCases { id } } }",
        {"a": fam.payer.id, "b": fam.receiver.id},
    )
    assert body["data"] == {
        "a": {"maintenanceCases": [{"id": fam.case.id}]},
        "b": {"maintenanceCases": [{"id": fam.case.id}]},
    }
    assert len(calls) == 1 and sorted(calls[0]) == sorted([fam.payer.id, fam.receiver.id])


@pytest.mark.parametrize(
    ("who", "own", "other"), [("receiver", "RECEIVING", "PAYING"), ("payer", "PAYING", "RECEIVING")]
)
async def test_a_parent_gets_the_view_of_their_own_role(
    gql: Gql, token: MintToken, fam: CaseFamily, who: str, own: str, other: str
) -> None:
    headers = citizen(token, fam, who)
    query = (
        "query($view: CaseRole) { me { maintenanceCases { id scheme children { givenName } "
        "payingParent { givenName } receivingParent { givenName } schedules { amountPence } " + POSITION + " } } }"
    )
    body = await gql(query, {"view": None}, headers=headers)
    assert "errors" not in body, body
    [case] = body["data"]["me"]["maintenanceCases"]
    assert case["id"] == fam.case.id
    assert case["position"]["__typename"] == f"{own.title()}Position"
    assert (case["payingParent"], case["receivingParent"]) == ({"givenName": "Paul"}, {"givenName": "Rita"})
    # Asking for the other parent's view is refused, on every path.
    body = await gql(query, {"view": other}, headers=headers)
    assert codes(body) == ["FORBIDDEN"] and body["data"]["me"]["maintenanceCases"][0]["position"] is None
    body = await gql(
        "query($id: ID!, $view: CaseRole) { maintenanceCase(id: $id) { " + POSITION + " } }",
        {"id": fam.case.id, "view": other},
        headers=headers,
    )
    assert codes(body) == ["FORBIDDEN"] and body["data"]["maintenanceCase"]["position"] is None


@pytest.mark.parametrize(
    ("who", "other_parent", "other_postcode"),
    [
        ("receiver", "payingParent", PAYER_POSTCODE),
        ("payer", "receivingParent", RECEIVER_POSTCODE),
    ],
)
async def test_a_parent_never_sees_the_other_parents_personal_data_on_any_path(
    gql: Gql, token: MintToken, fam: CaseFamily, who: str, other_parent: str, other_postcode: str
) -> None:
    headers = citizen(token, fam, who)
    other = fam.payer if who == "receiver" else fam.receiver
    roots = {
        "me": (
            "{ me { maintenanceCases { PARENT { FIELD } } } }",
            lambda d: d["me"]["maintenanceCases"][0][other_parent],
        ),
        "root": (
            '{ maintenanceCase(id: "CASE") { PARENT { FIELD } } }'.replace("CASE", fam.case.id),
            lambda d: d["maintenanceCase"][other_parent],
        ),
    }
    leaks = []
    for field, selection in person_selections().items():
        for path, (template, pick) in roots.items():
            body = await gql(template.replace("PARENT", other_parent).replace("FIELD", selection), headers=headers)
            value = pick(body["data"])
            readable = value is not None and value.get(field) not in (None, [])
            if field in RELATED:
                if not readable or codes(body):
                    leaks.append(f"{path} {field}: should be readable: {body}")
            elif readable or codes(body) != ["FORBIDDEN"]:
                leaks.append(f"{path} {field}: should be FORBIDDEN: {body}")
            if other_postcode in str(body) or (other.nino and other.nino in str(body)):
                leaks.append(f"{path} {field}: leaked the other parent's data: {body}")
    assert "address" in person_selections() and "maintenanceCases" in person_selections()
    assert not leaks, "\n".join(leaks)


async def test_the_receiving_parent_never_sees_payments_detail(gql: Gql, token: MintToken, fam: CaseFamily) -> None:
    headers = citizen(token, fam, "receiver")
    for query in (
        "{ me { maintenanceCases { payments { amountPence paidAt } } } }",
        '{ maintenanceCase(id: "CASE") { payments { amountPence } } }'.replace("CASE", fam.case.id),
    ):
        body = await gql(query, headers=headers)
        assert codes(body) == ["FORBIDDEN"], body
        assert "5000" not in str(body["data"])
    # The payer does see their own payments.
    body = await gql("{ me { maintenanceCases { payments { amountPence } } } }", headers=citizen(token, fam, "payer"))
    assert body["data"]["me"]["maintenanceCases"][0]["payments"] == [{"amountPence": 5_000}]


async def test_a_citizen_outside_the_case_sees_nothing_of_it(gql: Gql, token: MintToken, fam: CaseFamily) -> None:
    headers = citizen(token, fam, "stranger")
    body = await gql(CASE_Q, {"id": fam.case.id}, headers=headers)
    assert body == {"data": {"maintenanceCase": None}}
    body = await gql("{ me { maintenanceCases { id } } }", headers=headers)
    assert body == {"data": {"me": {"maintenanceCases": []}}}


async def test_other_purposes_and_roles_are_denied(gql: Gql, token: MintToken, fam: CaseFamily) -> None:
    benefits = {"authorization": f"Bearer {token(['caseworker'])}", "x-purpose": "benefits-assessment"}
    body = await gql(CASE_Q, {"id": fam.case.id}, headers=benefits)
    assert codes(body) == ["FORBIDDEN"]
    body = await gql(
        "query($id: ID!) { person(id: $id) { id maintenanceCases { id } } }", {"id": fam.payer.id}, headers=benefits
    )
    assert codes(body) == ["FORBIDDEN"] and body["data"]["person"] == {"id": fam.payer.id, "maintenanceCases": None}
    partner = {"authorization": f"Bearer {token(['partner'], department='HMRC', purpose='earnings-verification')}"}
    body = await gql(CASE_Q, {"id": fam.case.id}, headers=partner)
    assert codes(body) == ["FORBIDDEN"]


async def test_entities_resolve_maintenance_cases_for_caseworkers(gql: Gql, fam: CaseFamily) -> None:
    body = await gql(
        "query($r: [_Any!]!) { _entities(representations: $r) { ... on MaintenanceCase { id scheme } } }",
        {"r": [{"__typename": "MaintenanceCase", "id": fam.case.id}, {"__typename": "MaintenanceCase", "id": "nope"}]},
    )
    assert body["data"]["_entities"] == [{"id": fam.case.id, "scheme": "COLLECT_AND_PAY"}, None]


CREATE = """mutation($input: CreateMaintenanceCaseInput!) { createMaintenanceCase(input: $input) {
  __typename ... on MaintenanceCase { id scheme payingParent { id } children { id } }
  ... on UserError { code message } ... on InvalidInput { field } ... on NotFoundError { id } } }"""
CHANGE = """mutation($input: ChangeScheduleInput!) { changeSchedule(input: $input) {
  __typename ... on ScheduleChangeSuccess { case { id schedules { amountPence startDate endDate } }
      started { amountPence frequency startDate endDate } ended { endDate } }
  ... on UserError { code } ... on InvalidInput { field } ... on NotFoundError { id } } }"""


async def test_caseworker_opens_a_case_and_changes_its_schedule(gql: Gql, graph: Graph) -> None:
    fam = await case_family(graph, payment=False)
    inp = {
        "scheme": "DIRECT_PAY",
        "payingParentId": fam.payer.id,
        "receivingParentId": fam.receiver.id,
        "childIds": [fam.child.id],
    }
    created = (await gql(CREATE, {"input": inp}))["data"]["createMaintenanceCase"]
    assert created["__typename"] == "MaintenanceCase" and created["scheme"] == "DIRECT_PAY"
    assert created["payingParent"] == {"id": fam.payer.id} and created["children"] == [{"id": fam.child.id}]

    first = {"caseId": created["id"], "amountPence": 4_321, "frequency": "WEEKLY", "startDate": "2026-01-05"}
    got = (await gql(CHANGE, {"input": first}))["data"]["changeSchedule"]
    assert got["__typename"] == "ScheduleChangeSuccess" and got["ended"] is None
    second = {**first, "amountPence": 5_000, "startDate": "2026-03-02"}
    got = (await gql(CHANGE, {"input": second}))["data"]["changeSchedule"]
    assert got["ended"] == {"endDate": "2026-03-01"}
    assert got["started"] == {"amountPence": 5_000, "frequency": "WEEKLY", "startDate": "2026-03-02", "endDate": None}
    assert [s["endDate"] for s in got["case"]["schedules"]] == ["2026-03-01", None]


async def test_mutation_errors_are_typed(gql: Gql, graph: Graph, fam: CaseFamily) -> None:
    same = {
        "scheme": "DIRECT_PAY",
        "payingParentId": fam.payer.id,
        "receivingParentId": fam.payer.id,
        "childIds": [fam.child.id],
    }
    got = (await gql(CREATE, {"input": same}))["data"]["createMaintenanceCase"]
    assert got["__typename"] == "InvalidInput" and got["field"] == "receivingParentId"
    unknown = {**same, "receivingParentId": "00000000-0000-4000-8000-00000000beef"}
    got = (await gql(CREATE, {"input": unknown}))["data"]["createMaintenanceCase"]
    assert got == {
        "__typename": "NotFoundError",
        "code": "NOT_FOUND",
        "message": got["message"],
        "id": "00000000-0000-4000-8000-00000000beef",
    }
    bad = {"caseId": fam.case.id, "amountPence": 0, "frequency": "MONTHLY", "startDate": "2030-01-01"}
    got = (await gql(CHANGE, {"input": bad}))["data"]["changeSchedule"]
    assert got == {"__typename": "InvalidInput", "code": "BAD_USER_INPUT", "field": "amountPence"}
    missing = {**bad, "amountPence": 100, "caseId": "00000000-0000-4000-8000-00000000cafe"}
    got = (await gql(CHANGE, {"input": missing}))["data"]["changeSchedule"]
    assert got["__typename"] == "NotFoundError"
    assert (await maintenance.get_case(graph, fam.case.id)).schedules == fam.case.schedules


async def test_citizens_cannot_run_the_caseworker_mutations(gql: Gql, token: MintToken, fam: CaseFamily) -> None:
    change = {"caseId": fam.case.id, "amountPence": 1, "frequency": "MONTHLY", "startDate": "2030-01-01"}
    body = await gql(CHANGE, {"input": change}, headers=citizen(token, fam, "payer"))
    assert codes(body) == ["FORBIDDEN"] and body["data"] == {"changeSchedule": None}


def test_money_fields_are_integers_in_the_sdl() -> None:
    sdl = build_schema().as_str()
    for line in sdl.splitlines():
        if "Pence" in line and ":" in line:
            # Whole pence: Int, or Long for totals across a caseload (beyond Int's 32 bits)
            assert line.rsplit(":", 1)[1].strip().rstrip("!") in ("Int", "Long"), line
    assert Role.PAYING.value in sdl


async def test_reads_of_a_case_are_audited_on_both_parents(gql: Gql, graph: Graph) -> None:
    fam = await case_family(graph)
    body = await gql("query($id: ID!) { maintenanceCase(id: $id) { payments { amountPence } } }", {"id": fam.case.id})
    assert "errors" not in body
    [payer_log, receiver_log, child_log] = await audit.access_log(graph, [fam.payer.id, fam.receiver.id, fam.child.id])
    for log in (payer_log, receiver_log):
        assert any("MaintenanceCase.payments" in e.fields and e.actor == "caseworker-1" for e in log), log
    assert child_log == []
