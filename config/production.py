"""Start-up refusals for production (issue 10, finding 15): no debug pages, no guessable secrets.

`settings.py` calls `refuse_unsafe_production()` when PIAZZA_ENV=production; every problem
found is named in one ImproperlyConfigured, with the variable and what to do, in Italian
and English, so an operator fixes them all in one go.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Mapping

from django.core.exceptions import ImproperlyConfigured

SECRET_KEY_MIN_LENGTH = 50
AUDIT_HMAC_KEY_MIN_LENGTH = 32
# A random key of the recommended length carries far more; a word or a repeated pattern far less.
MIN_ENTROPY_BITS = 96
MIN_DISTINCT_CHARACTERS = 10
PLACEHOLDERS = (
    "django-insecure",
    "insecure",
    "changeme",
    "change-me",
    "change_me",
    "change-this",
    "placeholder",
    "example",
    "your-secret",
    "your_secret",
    "secret-key",
    "secret_key",
    "secretkey",
    "secret",
    "password",
    "piazza",
    "dev-key",
    "development",
    "<",
    ">",
)

GENERATE = "python -c 'import secrets; print(secrets.token_urlsafe(64))'"


def entropy_bits(value: str) -> float:
    """Shannon estimate of the whole string's information, from its own character frequencies."""
    if not value:
        return 0.0
    counts = Counter(value)
    per_char = -sum(n / len(value) * math.log2(n / len(value)) for n in counts.values())
    return per_char * len(value)


def repeats_a_pattern(value: str) -> bool:
    """True when the string is a shorter piece repeated ("abcabcabc…")."""
    return any(
        value == (value[:period] * (len(value) // period + 1))[: len(value)] for period in range(1, len(value) // 2 + 1)
    )


def secret_weakness(value: str, *, min_length: int) -> str | None:
    """Why `value` is not fit to be a production secret, or None when it is."""
    if not value:
        return "mancante / missing"
    if len(value) < min_length:
        return (
            f"troppo corta ({len(value)} caratteri, ne servono almeno {min_length}) / "
            f"too short ({len(value)} characters, at least {min_length} needed)"
        )
    lowered = value.lower()
    for marker in PLACEHOLDERS:
        if marker in lowered:
            return f"è un segnaposto (contiene {marker!r}) / is a placeholder (contains {marker!r})"
    if len(set(value)) < MIN_DISTINCT_CHARACTERS or entropy_bits(value) < MIN_ENTROPY_BITS or repeats_a_pattern(value):
        return (
            "troppo prevedibile (pochi caratteri diversi o ripetuti) / "
            "too predictable (few distinct or repeated characters)"
        )
    return None


def production_problems(environ: Mapping[str, str]) -> list[str]:
    """Every reason the environment is unsafe for PIAZZA_ENV=production (empty when it is fine)."""
    problems: list[str] = []
    if environ.get("DEBUG", "").strip().lower() in {"1", "true", "yes", "on"}:
        problems.append(
            "DEBUG è attivo: in produzione mostrerebbe codice, impostazioni e dati personali a "
            "chiunque provochi un errore. Togli DEBUG o impostalo a false. / DEBUG is on: "
            "unset it or set DEBUG=false."
        )
    secret_key = environ.get("SECRET_KEY", "")
    weakness = secret_weakness(secret_key, min_length=SECRET_KEY_MIN_LENGTH)
    if weakness and secret_key:  # a missing key keeps its own older message in settings.py
        problems.append(
            f"SECRET_KEY {weakness}. Genera una chiave casuale con {GENERATE} e mettila in "
            f"SECRET_KEY. / Generate a random SECRET_KEY with the command above."
        )
    audit_key = environ.get("AUDIT_HMAC_KEY", "")
    weakness = secret_weakness(audit_key, min_length=AUDIT_HMAC_KEY_MIN_LENGTH)
    if weakness:
        problems.append(
            f"AUDIT_HMAC_KEY {weakness}. È la chiave che firma la catena del registro attività: "
            f"generane una con {GENERATE}, diversa da SECRET_KEY, e conservala anche fuori dal "
            f"server. / AUDIT_HMAC_KEY signs the audit chain: generate one, distinct from "
            f"SECRET_KEY, and keep a copy off the server."
        )
    elif audit_key == secret_key:
        problems.append(
            "AUDIT_HMAC_KEY è uguale a SECRET_KEY: chi conosce una chiave potrebbe riscrivere il "
            "registro attività. Genera una chiave diversa. / AUDIT_HMAC_KEY equals SECRET_KEY: "
            "generate a distinct one."
        )
    return problems


def refuse_unsafe_production(environ: Mapping[str, str]) -> None:
    problems = production_problems(environ)
    if problems:
        raise ImproperlyConfigured(
            "piazza non parte in produzione / piazza refuses to start in production:\n- " + "\n- ".join(problems)
        )
