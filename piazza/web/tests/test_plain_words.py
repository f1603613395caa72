"""Issue 11 item 16: officials read words, not codes.

After the demo data is loaded, the national administrator and the federation treasurer walk
the back office (every page linked from the dashboard and the menus, two levels deep, GET
only). The visible text of each page (attributes such as `title`, where a rule id may stay as
a tooltip, are not text) must contain no rule id (`M15`, `F10`), no `DOMAIN.md`, no dotted
audit code (`payments.create_payment`), no raw code value of a model choice, account key,
payment circuit or payment event (`match_reserved`, `sepa_dd`, `attempt_started`), and no
stored filter printed as a Python dict.
"""

from __future__ import annotations

import ast
import re
from collections import deque
from html.parser import HTMLParser
from io import StringIO
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from django.apps import apps
from django.contrib.auth import get_user_model
from django.core.management import call_command

from piazza.ledger.kinds import KEY_LABELS
from piazza.payments.models import EVENT_LABELS
from piazza.payments.providers.registry import all_providers
from piazza.people.actions.segments import save_segment
from piazza.territory.models import Level, Territory
from piazza.territory.testing import verified_client
from piazza.web.activity import ACTIONS, AREAS, action_label

pytestmark = pytest.mark.django_db

RULE_ID = re.compile(r"\b[MFGD]\d{1,2}\b")
AREA_CODES = "|".join(sorted({*AREAS, "core", "web"}))
DOTTED_CODE = re.compile(rf"\b(?:{AREA_CODES})\.[a-z_]+\b")
PY_DICT = re.compile(r"\{\s*'[a-z_]+'\s*:")
SKIP = re.compile(
    r"^/(admin|api|i18n|static|media)/|\.(csv|pdf|xml|png|zip|xlsx|ods|txt)$|/(esporta|export|pdf|"
    r"csv|scarica|download)/?"
)
MAX_PAGES = 120


def raw_codes() -> set[str]:
    """Code values people must never read: snake_case choice values of every model, account keys,
    payment circuits and payment events."""
    codes: set[str] = set()
    for model in apps.get_models():
        if not model.__module__.startswith("piazza."):
            continue
        for field in model._meta.get_fields():
            for value, label in getattr(field, "flatchoices", None) or []:
                if isinstance(value, str) and "_" in value and value != str(label):
                    codes.add(value)
    codes.update(key for key, label in KEY_LABELS.items() if key not in str(label))  # "Carta di prova (sandbox)"
    codes.update(p.identifier for p in all_providers() if "_" in p.identifier)
    codes.update(EVENT_LABELS)
    return codes


class _Text(HTMLParser):
    """The text a person reads: character data outside <script>/<style>; attributes are not text."""

    def __init__(self) -> None:
        super().__init__()
        self.parts: list[str] = []
        self.links: list[str] = []
        self._hidden = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("script", "style"):
            self._hidden += 1
        if tag == "a":
            href = dict(attrs).get("href") or ""
            if href.startswith("/"):
                self.links.append(href.split("#")[0])

    def handle_endtag(self, tag: str) -> None:
        if tag in ("script", "style") and self._hidden:
            self._hidden -= 1

    def handle_data(self, data: str) -> None:
        if not self._hidden:
            self.parts.append(data)


def leaks(text: str, codes: set[str]) -> list[str]:
    found = [f"rule id {m}" for m in RULE_ID.findall(text)]
    found += ["DOMAIN.md"] if "DOMAIN.md" in text else []
    found += [f"audit code {m}" for m in DOTTED_CODE.findall(text)]
    found += [f"dict {m}" for m in PY_DICT.findall(text)]
    words = set(re.findall(r"(?<![\w.@/-])[a-z][a-z0-9_]*(?![\w.@/-])", text))
    found += [f"code {c}" for c in sorted(words & codes)]
    return found


def walk(client, start: list[str], codes: set[str]) -> tuple[dict[str, list[str]], int]:
    seen: set[str] = set(start)
    queue = deque(start)
    problems: dict[str, list[str]] = {}
    pages = 0
    while queue and pages < MAX_PAGES:
        url = queue.popleft()
        response = client.get(url)
        if response.status_code != 200 or "text/html" not in response.get("Content-Type", ""):
            continue
        pages += 1
        parser = _Text()
        parser.feed(response.content.decode())
        text = " ".join(parser.parts)
        found = leaks(text, codes)
        if found:
            problems[url] = sorted(set(found))
        for link in parser.links:
            path = urlsplit(link).path
            if link not in seen and not SKIP.search(path) and path != "/":
                seen.add(link)
                queue.append(link)
    return problems, pages


def test_the_back_office_speaks_words_not_codes(tree):
    call_command("seed_demo", people=20, stdout=StringIO())
    users = get_user_model().objects
    national = users.get(username="nazionale")
    bologna = Territory.objects.get(level=Level.FEDERATION, code="037")
    save_segment(
        actor=national,
        name="Giovani con consenso",
        territory=bologna,
        definition={"age_max": 30, "consent": "political_communication", "tags": ["volontari"]},
    )
    codes = raw_codes()
    assert {"match_reserved", "sepa_dd", "attempt_started", "gifts"} <= codes
    for username in ("nazionale", "tesoriera"):
        client = verified_client(users.get(username=username))
        problems, pages = walk(
            client,
            [
                "/gestione/",
                "/gestione/registro/",
                "/tesseramento/gestione/regole/",
                "/persone/segmenti/",
                "/pagamenti/tesoreria/",
                "/raccolte/gestione/",
            ],
            codes,
        )
        assert pages > 15, f"{username} reached only {pages} pages"
        assert problems == {}, f"{username} reads codes: {problems}"


# Calls and assignments whose string argument is an audit action code.
AUDIT_CALLS = {
    "record",
    "refuse",
    "shows_personal_data",
    "_require_scope",
    "_refuse_invalid",
    "_require_treasury",
    "write_export",
    "export_view",
    "export_response",
}
CODE_LITERAL = re.compile(r"^[a-z]+\.[a-z_]+$")
SOURCE = Path(__file__).resolve().parents[2]


def audit_codes_in_source() -> dict[str, str]:
    """Every audit action code the code base writes, with the file that writes it: the literal
    argument of record()/refuse()/the view decorators, or the value of an `action = "…"` variable."""
    found: dict[str, str] = {}
    for path in SOURCE.rglob("*.py"):
        if "tests" in path.parts or "migrations" in path.parts:
            continue
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            literals: list[ast.expr] = []
            if isinstance(node, ast.Call):
                name = getattr(node.func, "id", None) or getattr(node.func, "attr", "")
                if name in AUDIT_CALLS and node.args:
                    literals.append(node.args[0])
                literals += [k.value for k in node.keywords if k.arg == "action"]
            elif isinstance(node, ast.Assign) and any(getattr(t, "id", "") == "action" for t in node.targets):
                literals.append(node.value)
            for lit in literals:
                if isinstance(lit, ast.Constant) and isinstance(lit.value, str) and CODE_LITERAL.match(lit.value):
                    found.setdefault(lit.value, str(path.relative_to(SOURCE)))
    return found


def test_every_audit_code_written_has_a_label():
    """Item 16: an audit code without a phrase would reach the activity feed as "<area>: altra
    operazione" at best; every code the code base writes has its own words."""
    codes = audit_codes_in_source()
    assert {"membership.mark_paid", "people.view_list", "role.assign", "payments.payer_page"} <= set(codes)
    missing = {code: path for code, path in codes.items() if code not in ACTIONS}
    assert missing == {}, f"audit codes without a label in piazza/web/activity.py: {missing}"
    assert action_label("role.assign") == "Incarico assegnato"
