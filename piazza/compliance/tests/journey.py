"""Helpers of the candidate-journey tests: people with real codici fiscali, a candidacy registered
and given its mandatario through the actions the back office calls."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from codicefiscale import codicefiscale

from piazza.compliance import actions
from piazza.compliance.models import Candidacy, ElectionKind
from piazza.people.actions import person as person_people_actions
from piazza.people.models import Person

MANDATARIO_IBAN = "IT60X0542811101000000123456"
OTHER_IBAN = "IT46U0306909606100000077777"


def person(first: str, last: str, territory: Any, *, born: str = "02/06/1979", sex: Literal["M", "F"] = "F") -> Person:
    code = codicefiscale.encode(lastname=last, firstname=first, gender=sex, birthdate=born, birthplace="Bologna")
    return person_people_actions.create_person(
        actor=None, data={"first_name": first, "last_name": last, "codice_fiscale": code}, circolo=territory
    )


def candidacy(tree: Any, official: Any, *, with_mandatario: bool = True, **over: Any) -> Candidacy:
    candidate = person("Giovanna", "Esposito", tree.bologna_centro)
    fields: dict[str, Any] = {
        "territory": tree.bologna,
        "election_kind": ElectionKind.MUNICIPAL,
        "candidate": candidate,
        "election": "Elezioni comunali di Bologna 2027",
        "constituency": "Comune di Bologna",
        "residents": 100_000,
        "elections_called_on": dt.date(2026, 4, 1),
        "election_day": dt.date(2026, 6, 28),
    }
    fields.update(over)
    result = actions.create_candidacy(actor=official, **fields)
    if with_mandatario:
        mandatario = person("Laura", "Neri", tree.bologna_centro, born="03/07/1975")
        result = actions.name_mandatario(actor=official, candidacy=result, person=mandatario, iban=MANDATARIO_IBAN)
    return result
