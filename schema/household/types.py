"""GraphQL types for a person's household data: addresses, claims."""

from __future__ import annotations

from datetime import date

import strawberry

from graph import models


@strawberry.type
class Address:
    id: strawberry.ID
    line1: str | None
    line2: str | None
    town: str | None
    postcode: str | None

    @classmethod
    def from_model(cls, a: models.Address) -> Address:
        return cls(id=strawberry.ID(a.id), line1=a.line1, line2=a.line2, town=a.town, postcode=a.postcode)


@strawberry.type(description="A period at an address; `to` is null while the person still lives there.")
class Residence:
    address: Address | None
    from_: date | None = strawberry.field(name="from")
    to: date | None

    @classmethod
    def from_model(cls, r: models.Residence) -> Residence:
        return cls(address=Address.from_model(r.address), from_=r.from_date, to=r.to_date)


@strawberry.type
class Claim:
    id: strawberry.ID
    type: str | None
    status: str | None
    start_date: date | None
    amount_pence: int | None = strawberry.field(description="Award per assessment period, in integer pence.")

    @classmethod
    def from_model(cls, c: models.Claim) -> Claim:
        return cls(
            id=strawberry.ID(c.id), type=c.type, status=c.status, start_date=c.start_date, amount_pence=c.amount_pence
        )
