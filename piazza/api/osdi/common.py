"""What the attendance and signature resources share: the person as typed on the form (never the
deduplicated record: a typed email proves nobody, convention 16), the record-helper body, and a
form's errors as an API answer."""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from pydantic import ConfigDict, Field

from piazza.api import schemas as s
from piazza.territory.models import Comune


class TypedEmail(s.Model):
    address: str
    primary: bool = True


class TypedAddress(s.Model):
    postal_code: str
    locality: str
    region: str
    country: str = "IT"


class TypedPerson(s.Model):
    """The signer or attendee as they typed themselves (OSDI person fields, no identifiers)."""

    given_name: str
    family_name: str
    email_addresses: list[TypedEmail]
    phone_numbers: list[s.PhoneNumber]
    postal_addresses: list[TypedAddress]


def typed_person(
    *, first_name: str, last_name: str, email: str, phone: str, comune: Comune | None, postal_code: str
) -> dict[str, Any]:
    addresses = []
    if comune is not None or postal_code:
        addresses.append(
            {
                "postal_code": postal_code,
                "locality": comune.name if comune else "",
                "region": comune.province_sigla if comune else "",
                "country": "IT",
            }
        )
    return {
        "given_name": first_name,
        "family_name": last_name,
        "email_addresses": [{"address": email, "primary": True}] if email else [],
        "phone_numbers": [{"number": phone, "primary": True, "number_type": "Mobile"}] if phone else [],
        "postal_addresses": addresses,
    }


class RecordHelper(s.Incoming):
    """An OSDI record helper body (record attendance, record signature): the person as typed."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    person: s.InPerson
    piazza_consents: dict[str, bool] = Field(
        default={},
        alias="piazza:consents",
        description="Consents ticked on the form, per purpose (political_communication, newsletter); rule G3",
    )


def person_fields(body: RecordHelper) -> dict[str, str]:
    """The form fields the public pages take, read from the OSDI person (first email, phone, address)."""
    person = body.person
    address = person.postal_addresses[0] if person.postal_addresses else None
    return {
        "first_name": person.given_name,
        "last_name": person.family_name,
        "email": person.email_addresses[0].address if person.email_addresses else "",
        "phone": person.phone_numbers[0].number if person.phone_numbers else "",
        "comune": address.locality if address else "",
        "postal_code": address.postal_code if address else "",
    }


# What the public forms call their fields, in the API's words (OSDI names, never Python ones).
FIELD_WORDS = {
    "first_name": "person.given_name",
    "last_name": "person.family_name",
    "email": "person.email_addresses",
    "phone": "person.phone_numbers",
    "comune": "person.postal_addresses.locality",
    "postal_code": "person.postal_addresses.postal_code",
}


def form_refusal(form: forms.BaseForm) -> ValidationError:
    """The public form's own messages (Italian, actionable), each named by the OSDI field it is about."""
    messages: list[str] = []
    for name, errors in form.errors.items():
        where = FIELD_WORDS.get(name) or (str(form.fields[name].label) if name in form.fields else "")
        messages.extend(f"{where}: {error}" if where else str(error) for error in errors)
    return ValidationError(messages)
