"""The person behind an application or an albo registration: their data, its checks, their record."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from piazza.people.actions import person as person_people_actions
from piazza.people.models import Citizenship, NoticeVersion, Person
from piazza.people.validation import clean_person_data
from piazza.territory.models import Comune, Territory

# --- Joining (M2, M4, M10–M15) ----------------------------------------------------------


@dataclass
class JoinData:
    """What a person declares when joining (rule M14 fields, M15 declarations, M4 authorisation)."""

    first_name: str
    last_name: str
    birth_date: dt.date
    codice_fiscale: str
    citizenship: str = Citizenship.ITALIAN
    sex: str = ""
    birth_comune: Comune | None = None
    birth_country: str = ""
    residence_street: str = ""
    residence_cap: str = ""
    residence_comune: Comune | None = None
    email: str = ""
    phone: str = ""
    has_residence_permit: bool = False
    member_of_other_party: bool = False
    declarations_accepted: bool = False
    art9_authorised: bool = False
    notice: NoticeVersion | None = None  # the privacy notice version the form showed (GDPR art. 13)
    extra: dict[str, Any] = field(default_factory=dict)


def registered_email(person: Person) -> str:
    """The address on record (primary first: the model's order), never one typed into a public
    form. Uses the person's prefetched e-mails when the caller has read them (the join form, P8)."""
    email = next(iter(person.emails.all()), None)
    return email.value if email is not None else ""


def _person_data(data: JoinData) -> dict[str, Any]:
    return {
        "first_name": data.first_name,
        "last_name": data.last_name,
        "sex": data.sex,
        "birth_date": data.birth_date,
        "birth_comune": data.birth_comune,
        "birth_country": data.birth_country,
        "codice_fiscale": data.codice_fiscale,
        "citizenship": data.citizenship,
        "residence_street": data.residence_street,
        "residence_cap": data.residence_cap,
        "residence_comune": data.residence_comune,
        "emails": [data.email] if data.email else [],
        "phones": [data.phone] if data.phone else [],
    }


def person_data_problems(data: JoinData) -> dict[str, list[str]]:
    """The people app's validation (D1 codice fiscale and its consistency, D4 contacts), run
    before any write so that a refusal leaves only its audit entry."""
    return clean_person_data(_person_data(data)).errors


def _find_or_create_person(data: JoinData, *, circolo: Territory, actor: Any) -> Person:
    """The person behind the application, found by canonical codice fiscale (D1) or created."""
    found: Any = person_people_actions.find_or_create_person(
        actor=actor, data=_person_data(data), circolo=circolo, source="membership"
    )
    return found[0] if isinstance(found, tuple) else found  # type: ignore[no-any-return]


def _timeline(person: Person, actor: Any, kind: str, summary: str, data: dict[str, Any]) -> None:
    person_people_actions.add_timeline_entry(person, kind=kind, summary=summary, data=data, actor=actor)
