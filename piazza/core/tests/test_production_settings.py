"""Finding 15 (issue 10): production refuses to start with DEBUG on or guessable secrets.

Each case imports the settings in a fresh interpreter with the given environment, as a
deployment would, and asserts the refusal and that its message names the variable.
"""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from django.conf import settings

GOOD_SECRET = "q7Vh2mXk9LpR4tZw8NcB1yJd6FsG3aHe5UoT0iKxPvQnMrWbYlCjDzEgAf-_Xu"
GOOD_AUDIT_KEY = "Zr4Kp9Wm2Tq7Xv1Bn6Hc3Jd8Lf5Gs0Ya-Ue_Io"
SETUP = (
    "import django, os; os.environ.setdefault('DJANGO_SETTINGS_MODULE', 'config.settings'); "
    "django.setup(); print('started')"
)


def _start(**env: str) -> subprocess.CompletedProcess[str]:
    environment = {
        k: v for k, v in os.environ.items() if k not in {"SECRET_KEY", "PIAZZA_ENV", "DEBUG", "AUDIT_HMAC_KEY"}
    }
    environment.update({"PIAZZA_ENV": "production", "ALLOWED_HOSTS": "piazza.example"}, **env)
    return subprocess.run(
        [sys.executable, "-c", SETUP],
        env=environment,
        capture_output=True,
        text=True,
        cwd=settings.BASE_DIR,
        timeout=60,
    )


def test_a_safe_production_environment_starts():
    result = _start(SECRET_KEY=GOOD_SECRET, AUDIT_HMAC_KEY=GOOD_AUDIT_KEY)
    assert result.returncode == 0, result.stderr
    assert "started" in result.stdout


@pytest.mark.parametrize(
    ("env", "variable", "advice"),
    [
        ({"DEBUG": "true"}, "DEBUG", "impostalo a false"),
        ({"DEBUG": "1"}, "DEBUG", "impostalo a false"),
        ({"SECRET_KEY": "abc"}, "SECRET_KEY", "troppo corta"),
        ({"SECRET_KEY": "django-insecure-" + "x1y2z3w4v5" * 5}, "SECRET_KEY", "segnaposto"),
        ({"SECRET_KEY": "<64 random characters>" + "k" * 40}, "SECRET_KEY", "segnaposto"),
        ({"SECRET_KEY": "abcdefghij" * 6}, "SECRET_KEY", "troppo prevedibile"),
        ({"SECRET_KEY": "a" * 64}, "SECRET_KEY", "troppo prevedibile"),
        ({"AUDIT_HMAC_KEY": ""}, "AUDIT_HMAC_KEY", "mancante"),
        ({"AUDIT_HMAC_KEY": "short-key-123"}, "AUDIT_HMAC_KEY", "troppo corta"),
        ({"AUDIT_HMAC_KEY": GOOD_SECRET}, "AUDIT_HMAC_KEY è uguale a SECRET_KEY", "chiave diversa"),
    ],
)
def test_unsafe_production_environment_is_refused_with_a_message_naming_the_variable(env, variable, advice):
    base = {"SECRET_KEY": GOOD_SECRET, "AUDIT_HMAC_KEY": GOOD_AUDIT_KEY}
    base.update(env)
    result = _start(**base)
    assert result.returncode != 0
    assert "started" not in result.stdout
    assert "ImproperlyConfigured" in result.stderr
    assert "piazza non parte in produzione" in result.stderr
    assert variable in result.stderr
    assert advice in result.stderr


def test_every_problem_is_named_at_once():
    result = _start(DEBUG="true", SECRET_KEY="abc")
    assert result.returncode != 0
    for variable in ("DEBUG è attivo", "SECRET_KEY troppo corta", "AUDIT_HMAC_KEY mancante"):
        assert variable in result.stderr
