import datetime as dt

import pytest

from piazza.people.codice_fiscale import make_codice_fiscale

MARIO_CF = make_codice_fiscale(
    first_name="Mario", last_name="Rossi", sex="M", birth_date=dt.date(1985, 3, 12), belfiore="A944"
)


@pytest.fixture
def mario_data():
    return {
        "first_name": "Mario",
        "last_name": "Rossi",
        "sex": "M",
        "birth_date": "12/03/1985",
        "birth_comune": "Bologna",
        "codice_fiscale": MARIO_CF,
        "residence_comune": "037006",
        "residence_street": "Via Indipendenza 1",
        "residence_cap": "40121",
        "emails": ["Mario.Rossi@Example.org"],
        "phones": ["333 123 4567"],
    }
