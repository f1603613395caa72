"""IBAN validation (rule D3): schwifty checks the ISO 13616 check digits *and* the national
BBAN checksum, which for Italy is the CIN letter, so a typo in an Italian IBAN is caught
before a mandate or a payout is ever stored.
"""

from __future__ import annotations

from django.core.exceptions import ValidationError
from django.utils.translation import gettext as _
from schwifty import IBAN
from schwifty import exceptions as schwifty_errors

ITALIAN_IBAN_LENGTH = 27  # rule D3


def normalize_iban(value: str, *, field: str | None = None) -> str:
    """The compact, upper-case IBAN, or a ValidationError saying precisely what is wrong.

    Codes: iban_empty, iban_structure, iban_country, iban_length, iban_checksum, iban_cin
    (Italian national check character), iban_bban (other national checks).
    """
    compact = "".join(str(value or "").split()).upper().replace("-", "")
    shown = compact or str(value)

    def fail(message: str, code: str) -> ValidationError:
        error = ValidationError(message, code=code)
        return ValidationError({field: error}) if field else error

    if not compact:
        raise fail(_("Inserisci l'IBAN del conto."), "iban_empty")
    if compact.startswith("IT") and len(compact) != ITALIAN_IBAN_LENGTH:
        raise fail(
            _(
                "L'IBAN italiano %(iban)s ha %(n)s caratteri: ne servono esattamente 27. "
                "Controlla di averlo copiato per intero."
            )
            % {"iban": shown, "n": len(compact)},
            "iban_length",
        )
    try:
        iban = IBAN(compact, validate_bban=True)
    except schwifty_errors.InvalidCountryCode:
        raise fail(
            _("%(iban)s non inizia con un codice paese valido (per esempio IT).") % {"iban": shown},
            "iban_country",
        ) from None
    except schwifty_errors.InvalidLength:
        raise fail(
            _("L'IBAN %(iban)s non ha la lunghezza prevista per il suo paese.") % {"iban": shown},
            "iban_length",
        ) from None
    except schwifty_errors.InvalidChecksumDigits:
        raise fail(
            _(
                "Le cifre di controllo dell'IBAN %(iban)s non tornano: probabilmente c'è un "
                "errore di battitura. Ricopialo dall'estratto conto o dall'home banking."
            )
            % {"iban": shown},
            "iban_checksum",
        ) from None
    except schwifty_errors.InvalidBBANChecksum:
        if compact.startswith("IT"):
            raise fail(
                _(
                    "Il CIN (la lettera dopo le prime quattro cifre, qui «%(cin)s») non corrisponde "
                    "a ABI, CAB e numero di conto dell'IBAN %(iban)s: controlla ABI, CAB e conto."
                )
                % {"cin": compact[4], "iban": shown},
                "iban_cin",
            ) from None
        raise fail(
            _("Il codice di controllo nazionale dell'IBAN %(iban)s non è valido.") % {"iban": shown},
            "iban_bban",
        ) from None
    except (schwifty_errors.InvalidStructure, schwifty_errors.SchwiftyException):
        raise fail(
            _("%(iban)s non ha la forma di un IBAN: sono ammessi solo lettere e cifre, nella struttura del paese.")
            % {"iban": shown},
            "iban_structure",
        ) from None
    return str(iban.compact)


def format_iban(value: str) -> str:
    """Groups of four for people to read: IT60 X054 2811 1010 0000 0123 456."""
    compact = "".join(value.split())
    return " ".join(compact[i : i + 4] for i in range(0, len(compact), 4))


def bic_for(iban: str) -> str:
    """The BIC of the IBAN's bank when schwifty's bank registry knows it, else ''."""
    try:
        bic = IBAN(iban).bic
    except schwifty_errors.SchwiftyException:
        return ""
    return str(bic) if bic else ""


def mask_iban(value: str) -> str:
    """For lists and emails: country, check digits and the last four characters only."""
    compact = "".join(value.split())
    if len(compact) < 8:
        return compact
    return f"{compact[:4]} •••• {compact[-4:]}"
