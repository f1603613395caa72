"""OSDI shapes (HAL+JSON) as pydantic models, so the OpenAPI schema says exactly what is sent.

Names follow OSDI (opensupporter/osdi-docs); fields prefixed `piazza:` are our extension.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.utils.translation import gettext as _
from pydantic import BaseModel, ConfigDict, Field, create_model, model_validator


class Model(BaseModel):
    model_config = ConfigDict(populate_by_name=True, extra="forbid")


class Link(Model):
    href: str


class Links(Model):
    model_config = ConfigDict(populate_by_name=True, extra="allow")

    self_: Link = Field(alias="self")


class Error(Model):
    """A JSON problem: `error` says what to do, `detail` lists field problems when there are any."""

    error: str
    detail: list[str] = []


class EmailAddress(Model):
    address: str
    primary: bool
    status: str = Field(description="OSDI status: subscribed when political communication is consented")


class PhoneNumber(Model):
    number: str
    primary: bool
    number_type: str = "Mobile"


class PostalAddress(Model):
    address_lines: list[str]
    postal_code: str
    locality: str
    region: str
    country: str = "IT"
    primary: bool = True
    address_type: str = Field(description="Home (residenza) or Domicile (domicilio)")


class Territory(Model):
    identifiers: list[str]
    name: str
    level: str


class Person(Model):
    identifiers: list[str]
    created_date: dt.datetime
    modified_date: dt.datetime
    given_name: str
    family_name: str
    email_addresses: list[EmailAddress]
    phone_numbers: list[PhoneNumber]
    postal_addresses: list[PostalAddress]
    custom_fields: dict[str, str]
    piazza_territory: Territory = Field(alias="piazza:territory")
    links: Links = Field(alias="_links")


class Tag(Model):
    identifiers: list[str]
    created_date: dt.datetime
    name: str
    links: Links = Field(alias="_links")


class Tagging(Model):
    identifiers: list[str]
    links: Links = Field(alias="_links")


class SegmentList(Model):
    identifiers: list[str]
    created_date: dt.datetime
    modified_date: dt.datetime
    name: str
    description: str
    links: Links = Field(alias="_links")


class Recipient(Model):
    display_name: str
    amount: str


class Payment(Model):
    method: str
    reference_number: str


class Donation(Model):
    identifiers: list[str]
    created_date: dt.datetime
    action_date: dt.datetime | None
    amount: str = Field(description="Decimal string in the currency's unit, e.g. 25.00")
    currency: str
    recipients: list[Recipient]
    payment: Payment
    referrer_data: dict[str, str]
    piazza_status: str = Field(alias="piazza:status")
    piazza_frequency: str = Field(alias="piazza:frequency")
    links: Links = Field(alias="_links")


class FundraisingPage(Model):
    identifiers: list[str]
    created_date: dt.datetime
    title: str
    description: str
    browser_url: str
    total_donations: int
    total_amount: str
    currency: str
    piazza_goal: str = Field(alias="piazza:goal")
    piazza_status: str = Field(alias="piazza:status")
    piazza_deadline: dt.datetime = Field(alias="piazza:deadline")
    links: Links = Field(alias="_links")


class Membership(Model):
    """piazza extension: one person's membership of one year in one circolo (OSDI has none)."""

    identifiers: list[str]
    year: int
    status: str
    is_renewal: bool
    card_number: str
    applied_date: dt.datetime
    paid_date: dt.datetime | None
    effective_date: dt.datetime | None
    ended_date: dt.datetime | None
    links: Links = Field(alias="_links")


class MembershipYear(Model):
    year: int
    applied: int
    paid: int
    effective: int
    links: Links = Field(alias="_links")


class Circolo(Model):
    identifiers: list[str]
    name: str
    kind: str
    parent: str
    links: Links = Field(alias="_links")


class EntryPoint(Model):
    motd: str
    vendor_name: str
    product_name: str
    osdi_version: str
    links: Links = Field(alias="_links")


def collection(name: str, key: str, item: type[BaseModel]) -> type[BaseModel]:
    """An OSDI collection page: counts, `_links` (self, next, prev) and `_embedded[key]`."""
    embedded = create_model(f"{name}Embedded", __base__=Model, items=(list[item], Field(alias=key)))  # type: ignore[call-overload, valid-type]
    return create_model(  # type: ignore[call-overload, no-any-return]
        name,
        __base__=Model,
        total_pages=(int, ...),
        per_page=(int, ...),
        page=(int, ...),
        total_records=(int, ...),
        links=(Links, Field(alias="_links")),
        embedded=(embedded, Field(alias="_embedded")),
    )


PeoplePage = collection("PeoplePage", "osdi:people", Person)
TagsPage = collection("TagsPage", "osdi:tags", Tag)
TaggingsPage = collection("TaggingsPage", "osdi:taggings", Tagging)
ListsPage = collection("ListsPage", "osdi:lists", SegmentList)
ItemsPage = collection("ItemsPage", "osdi:items", Tagging)
DonationsPage = collection("DonationsPage", "osdi:donations", Donation)
FundraisingPagesPage = collection("FundraisingPagesPage", "osdi:fundraising_pages", FundraisingPage)
MembershipsPage = collection("MembershipsPage", "piazza:memberships", Membership)
MembershipYearsPage = collection("MembershipYearsPage", "piazza:membership_years", MembershipYear)
CircoliPage = collection("CircoliPage", "piazza:circoli", Circolo)


# --- the person signup helper (request body) ---------------------------------------------------


def _carries_nul(value: object) -> bool:
    if isinstance(value, str):
        return "\x00" in value
    if isinstance(value, dict):
        return any(_carries_nul(k) or _carries_nul(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_carries_nul(v) for v in value)
    return False


class Incoming(Model):
    """A request body: no NUL character anywhere, as the forms and `core.input_guard` refuse it
    (PostgreSQL text cannot hold one, and no person types it)."""

    @model_validator(mode="before")
    @classmethod
    def _refuse_nul(cls, data: object) -> object:
        if _carries_nul(data):
            raise ValueError(_("Il testo contiene il carattere nullo, che non è valido: toglilo e riprova."))
        return data


class InEmail(Incoming):
    model_config = ConfigDict(extra="ignore")
    address: str = Field(max_length=254)


class InPhone(Incoming):
    model_config = ConfigDict(extra="ignore")
    number: str = Field(max_length=40)


class InAddress(Incoming):
    model_config = ConfigDict(extra="ignore")
    address_lines: list[str] = Field(default=[], max_length=3)
    postal_code: str = Field(default="", max_length=10)
    locality: str = Field(default="", max_length=120, description="Comune (name or ISTAT code)")


class InPerson(Incoming):
    model_config = ConfigDict(extra="ignore")
    given_name: str = Field(max_length=100)
    family_name: str = Field(max_length=100)
    email_addresses: list[InEmail] = Field(default=[], max_length=5)
    phone_numbers: list[InPhone] = Field(default=[], max_length=5)
    postal_addresses: list[InAddress] = Field(default=[], max_length=1)
    birthdate: dt.date | None = None


class SignupHelper(Incoming):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    person: InPerson
    add_tags: list[str] = Field(default=[], max_length=20)
    piazza_circolo: str | None = Field(
        default=None,
        alias="piazza:circolo",
        description="Identifier of a circolo (piazza:circolo:<id>) in the key's scope",
    )
    piazza_consents: dict[str, bool] = Field(
        default={},
        alias="piazza:consents",
        description="Consents given on the form, per purpose (political_communication, profiling, …); rule G3",
    )


def dump(model: BaseModel) -> dict[str, Any]:
    return model.model_dump(by_alias=True, mode="json")
