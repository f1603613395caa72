"""Rule D1: validation, omocodia, consistency with the record (each bad input has its message)."""

import datetime as dt

from piazza.people.codice_fiscale import (
    canonical_codice_fiscale,
    consistency_problems,
    validate_codice_fiscale,
)
from piazza.people.tests.conftest import MARIO_CF


def test_valid_code_decodes_sex_date_and_place():
    result = validate_codice_fiscale(MARIO_CF.lower())
    assert result.is_valid, result.errors
    assert (result.sex, result.birth_date, result.belfiore) == ("M", dt.date(1985, 3, 12), "A944")
    assert result.place_name == "Bologna"


def test_wrong_check_letter_says_which_letter_is_expected():
    wrong = MARIO_CF[:15] + ("A" if MARIO_CF[15] != "A" else "B")
    result = validate_codice_fiscale(wrong)
    assert not result.is_valid
    assert f"dovrebbe essere «{MARIO_CF[15]}»" in result.errors[0]


def test_impossible_date():
    from codicefiscale import codicefiscale as cflib

    root = MARIO_CF[:9] + "32" + MARIO_CF[11:15]  # 32 March
    result = validate_codice_fiscale(root + cflib.encode_cin(root))
    assert any("non esiste" in e for e in result.errors)


def test_unknown_place_code():
    from codicefiscale import codicefiscale as cflib

    root = MARIO_CF[:11] + "Z999"
    result = validate_codice_fiscale(root + cflib.encode_cin(root))
    assert any("Z999" in e and "luogo" in e for e in result.errors)


def test_wrong_length_and_shape():
    assert "16 caratteri" in validate_codice_fiscale("RSSMRA85C12").errors[0]
    assert "forma" in validate_codice_fiscale("1234567890123456").errors[0]


def test_omocodia_variants_have_the_same_canonical_form():
    from codicefiscale import codicefiscale as cflib

    variants = cflib.decode(MARIO_CF)["omocodes"]
    assert len(variants) == 128
    assert {canonical_codice_fiscale(v) for v in variants} == {MARIO_CF}
    assert all(validate_codice_fiscale(v).is_valid for v in variants[:10])


def test_inconsistency_with_the_record_is_explained():
    result = validate_codice_fiscale(MARIO_CF)
    problems = consistency_problems(
        result, first_name="Mario", last_name="Rossi", sex="F", birth_date=dt.date(1986, 3, 12), birth_belfiore="F257"
    )
    text = " ".join(problems)
    assert "La data di nascita nel codice è 12/03/1985, la scheda dice 12/03/1986." in text
    assert "sesso" in text.lower()
    assert "Bologna" in text
    assert not consistency_problems(
        result, first_name="Mario", last_name="Rossi", sex="M", birth_date=dt.date(1985, 3, 12), birth_belfiore="A944"
    )


def test_check_letter_agrees_with_the_library_on_many_codes():
    """ADR 0035: our check letter is the library's on random roots, omocodia letters included."""
    import random

    from codicefiscale import codicefiscale as cflib

    from piazza.people.codice_fiscale import check_letter

    rnd = random.Random(35)
    letters = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"
    digits = "0123456789LMNPQRSTUV"
    for _ in range(5000):
        root = (
            "".join(rnd.choice(letters) for _ in range(6))
            + "".join(rnd.choice(digits) for _ in range(2))
            + rnd.choice("ABCDEHLMPRST")
            + "".join(rnd.choice(digits) for _ in range(2))
            + rnd.choice(letters)
            + "".join(rnd.choice(digits) for _ in range(3))
        )
        assert check_letter(root) == cflib.encode_cin(root), root


def test_a_letter_where_only_a_digit_or_its_omocodia_letter_fits_is_a_shape_error():
    root = MARIO_CF[:6] + "A5" + MARIO_CF[8:15]  # "A" is no omocodia letter
    from piazza.people.codice_fiscale import check_letter

    assert "forma" in validate_codice_fiscale(root + check_letter(root)).errors[0]
