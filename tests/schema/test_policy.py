"""Policy files: validated against the schema with errors naming file, grant and key; default deny."""

from __future__ import annotations

from pathlib import Path

import pytest

from schema import build_schema, schema_fields
from schema.policy import PolicyError, load_policy
from schema.principal import Principal

FIELDS = schema_fields(build_schema())
HEAD = "purposes: {child-maintenance: x, earnings-verification: y}\ngrants:\n"


def policy_from(tmp_path: Path, text: str):  # type: ignore[no-untyped-def]
    path = tmp_path / "policies.yaml"
    path.write_text(text)
    return load_policy(path, FIELDS)


@pytest.mark.parametrize(
    ("grants", "message"),
    [
        ("  - {role: caseworker, purpose: child-maintenance, read: [Person.nmae]}", "Person has no field 'nmae'"),
        ("  - {role: caseworker, purpose: child-maintenance, read: [Persn.id]}", "unknown type 'Persn'"),
        (
            "  - {role: caseworker, purpose: child-maintenance, mutations: [dropAll]}",
            "unknown Mutation field 'dropAll'",
        ),
        ("  - {role: caseworker, purpose: child-maintenance, queries: [everyone]}", "unknown Query field 'everyone'"),
        ("  - {role: caseworker, purpose: gossip, read: [Person.id]}", "'gossip' is not declared"),
        ("  - {role: partner, purpose: earnings-verification, read: [Person.id]}", "names its department and purpose"),
        ("  - {role: citizen, people: any, read: [Person.id]}", "only their own record"),
        ("  - {role: admin, read: [Person.id]}", "grants.0.role"),
        ("  - {role: citizen, people: self, reed: [Person.id]}", "grants.0.reed"),
    ],
)
def test_bad_grants_name_the_problem(tmp_path: Path, grants: str, message: str) -> None:
    with pytest.raises(PolicyError, match="policies.yaml") as info:
        policy_from(tmp_path, HEAD + grants + "\n")
    assert message in str(info.value)


def test_broken_yaml_and_missing_file(tmp_path: Path) -> None:
    with pytest.raises(PolicyError, match=r"policies\.yaml:\d+:\d+: not valid YAML"):
        policy_from(tmp_path, "grants: [\n")
    with pytest.raises(PolicyError, match="not found"):
        load_policy(tmp_path / "nope.yaml", FIELDS)


def test_default_deny_and_union_of_matching_grants(tmp_path: Path) -> None:
    policy = policy_from(
        tmp_path,
        HEAD
        + "  - {role: caseworker, purpose: child-maintenance, queries: [person], read: [Person.id, Claim.*]}\n"
        + "  - {role: caseworker, purpose: child-maintenance, read: [Person.nino]}\n"
        + "  - {role: partner, department: HMRC, purpose: earnings-verification,"
        + " queries: [person], read: [Person.id]}\n",
    )
    cw = policy.access_for(Principal("s", frozenset({"caseworker"}), purpose="child-maintenance"))
    assert {"Person.id", "Person.nino", "Claim.amountPence"} <= cw.readable and cw.queries == {"person"}
    assert policy.access_for(Principal("s", frozenset({"caseworker"}))).empty  # no purpose stated
    assert policy.access_for(Principal("s", frozenset({"steward"}), purpose="child-maintenance")).empty
    wrong_department = Principal("s", frozenset({"partner"}), department="DWP", purpose="earnings-verification")
    assert policy.access_for(wrong_department).empty


def test_the_shipped_policy_loads() -> None:
    policy = load_policy(Path(__file__).resolve().parents[2] / "config" / "policies.yaml", FIELDS)
    assert len(policy.spec.grants) >= 5
