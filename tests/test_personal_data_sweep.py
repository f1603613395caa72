"""Rule G4, swept: a back-office page that shows personal data writes an audit entry.

Every URL pattern of the apps that hold personal data (people, membership, funding back office,
payments back office, bank) is read from the resolver: a back-office view must be marked with
`@shows_personal_data` (or `@export_view`) or stand in ALLOWED with the reason it shows no
personal data. A new view fails this test until someone decides which it is. Then every marked
page is opened with real ids and must write an audit entry; the admin of each personal-data
model must log its list and its records.
"""

from __future__ import annotations

from io import StringIO
from typing import Any

import pytest
from django.apps import apps
from django.contrib import admin
from django.core.management import call_command
from django.urls import URLPattern, URLResolver, get_resolver

from piazza.core.admin import PersonalDataAdminMixin
from piazza.core.exports import EXPORT_MARK
from piazza.core.models import AuditEntry, AuditKind
from piazza.core.personal_data import is_marked
from piazza.territory.models import Role
from piazza.territory.testing import make_official, verified_client

pytestmark = pytest.mark.django_db

NAMESPACES = {
    "people",
    "membership",
    "funding",
    "payments",
    "bank",
    "compliance",
    "privacy",
    "petitions",
    "volunteers",
    "events",
}

POST_ONLY = "POST only: it acts and redirects, it renders no page"
FORM = "an empty form; on an error it shows back only what the official typed"

ALLOWED: dict[str, str] = {
    "payments:treasury_methods": "the payment methods offered in a territory: no person on the page",
    "privacy:retention": "the retention dry run shows counts and record numbers, no names; each view is audited",
    # people
    "people:consent": POST_ONLY,
    "people:segments": "segment names and how many people match, no person",
    "people:segment_save": POST_ONLY,
    "people:request_close": POST_ONLY,
    "people:segment_create": "the segment builder: filters and a count, no person",
    "people:segment_edit": "the segment builder: filters and a count, no person",
    "people:segment_preview": "a count of matching people (htmx fragment)",
    "people:segment_delete": POST_ONLY,
    "people:segment_count": "a count of matching people (htmx fragment)",
    "people:import_upload": "the upload form and the official's past uploads (file names and counts)",
    "people:import_map": "the column headers of the file, no row",
    "people:import_progress": "counts of the running import",
    "people:import_target": "the target choice: circoli of the official's scope and the fee options, no row",
    "people:code_date_resolve": POST_ONLY,
    # volunteers (issue 15)
    "volunteers:manage": "titles of the opportunities and call lists, counts of shifts, no person",
    "volunteers:opportunity_create": FORM,
    "volunteers:shift_add": POST_ONLY,
    "volunteers:attendance": POST_ONLY,
    "volunteers:ladder": "counts of people per rung of the ladder, no person",
    "volunteers:call_list_create": "the call list form: territories, segment names, the script; no person",
    "volunteers:call_list": "progress and outcome counts of a call list and its script, no person",
    "volunteers:call_take": POST_ONLY,
    "volunteers:call_outcome": POST_ONLY,
    # membership
    "membership:overview": "counts per territory and links, no person",
    "membership:desk_register": FORM,
    "membership:membership_pay": POST_ONLY,
    "membership:membership_deliver": POST_ONLY,
    "membership:membership_block": POST_ONLY,
    "membership:membership_unblock": POST_ONLY,
    "membership:transfer_request": POST_ONLY,
    "membership:objection_raise": POST_ONLY,
    "membership:appeal_decide": POST_ONLY,
    "membership:objection_decide": POST_ONLY,
    "membership:objection_appeal": POST_ONLY,
    "membership:transfer_decide": POST_ONLY,
    "membership:rules": "fee schedules and rules of the territories, no person",
    "membership:fee_schedule_save": POST_ONLY,
    "membership:surcharge_save": POST_ONLY,
    "membership:rules_save": POST_ONLY,
    "membership:election_create": POST_ONLY,
    "membership:renewal_campaign": POST_ONLY,
    "membership:congress_create": FORM,
    "membership:roll_compute": POST_ONLY,
    "membership:roll_sign": POST_ONLY,
    "membership:roll_vote": POST_ONLY,
    "membership:anomaly_review": POST_ONLY,
    # funding back office
    "funding:manage_list": "the campaigns of the official's territories, no donor",
    "funding:manage_create": FORM,
    "funding:pools": "matchfunding pools of the territories: names and amounts",
    "funding:pool_round": "a quadratic round: campaigns with their count of donors, sums and matches, no person",
    "funding:pool_round_exclude": POST_ONLY,
    "funding:pool_simulate": "campaigns of a territory with counts of donors and sums under two rules, no person",
    "funding:manage_preview": "the public campaign page as visitors see it",
    "funding:manage_action": POST_ONLY,
    # payments back office
    "payments:treasury_resume": POST_ONLY,
    # bank
    "bank:overview": "the treasury's accounts and statement uploads (file names and counts)",
    "bank:account_new": FORM,
    "bank:payee_new": FORM,
    "bank:mandate_new": FORM,
    "bank:batches": "collection batches: message ids, creditor accounts of the party, dates",
    "bank:import": FORM,
    "bank:import_progress": "counts of the running statement import",
    "bank:payout_decide": POST_ONLY,
    "privacy:extend": POST_ONLY,
    # compliance: the donor register
    "compliance:register_periods": "election periods of the territories (names and dates), no person",
    # privacy officer's records (issue 12); the people per notice version and the breaches are marked
    "privacy:notices_admin": "the notices and their versions, with counts of acceptances, no person",
    "privacy:notice_admin": "one notice's versions with counts of the people who accepted each, no names",
    "privacy:notice_publish": FORM,
    "privacy:processing": "the record of processing generated from settings and declarations, no person",
    "privacy:processing_pdf": "the same record as a PDF (its download is audited as an export)",
    # compliance: tax statements (rules F7/F8)
    "compliance:tax_start": POST_ONLY,
    "compliance:tax_resume": POST_ONLY,
    "compliance:tax_run": "counts of a generation run (donors done, statements written, errors), no person",
    # compliance: the mandatario's books and the 2×1000
    "compliance:proclamation": POST_ONLY,
    "compliance:expense_receipt_upload": POST_ONLY,
    "compliance:two_per_thousand": "aggregate 2×1000 amounts per year (rule F9): never a person",
    # petitions (issue 15): the signatures leave only through the audited CSV/PDF delivery
    "petitions:manage_list": "petitions of the scope with their counters, no signer",
    "petitions:manage_create": FORM,
    "petitions:manage_detail": "one petition: counter, questions, embed code, no signer",
    # events (issue 15): the attendee list and the door page are marked, the export audited
    "events:manage_list": "the events of the official's territories: titles, dates, no attendee",
    "events:create": FORM,
    "events:cancel": POST_ONLY,
    "events:checkin_code": "POST; on a wrong code the door page without the attendee list, only what was typed",
    "events:checkin_rsvp": POST_ONLY,
    "events:walk_in": "POST; on an error the door page without the attendee list, only what was typed",
}


def _walk(resolver: URLResolver, prefix: str = "", namespace: str = "") -> list[tuple[str, str, URLPattern]]:
    found = []
    for entry in resolver.url_patterns:
        if isinstance(entry, URLResolver):
            found += _walk(entry, prefix + str(entry.pattern), entry.namespace or namespace)
        elif namespace in NAMESPACES:
            found.append((f"{namespace}:{entry.name}", prefix + str(entry.pattern), entry))
    return found


def _chain(view: Any) -> list[Any]:
    chain = [view]
    while hasattr(chain[-1], "__wrapped__"):
        chain.append(chain[-1].__wrapped__)
    return chain


def _back_office(view: Any) -> bool:
    """Behind `official_required` (directly or through `treasury_required`)."""
    return any(
        getattr(getattr(f, "__code__", None), "co_qualname", "").startswith("official_required.") for f in _chain(view)
    )


def test_every_back_office_view_is_marked_or_allowed_with_a_reason():
    patterns = _walk(get_resolver())
    back_office = {name: pattern for name, _route, pattern in patterns if _back_office(pattern.callback)}
    assert len(back_office) > 60, sorted(back_office)
    unmarked = sorted(name for name, p in back_office.items() if not is_marked(p.callback) and name not in ALLOWED)
    assert unmarked == [], "mark these views with @shows_personal_data or add them to ALLOWED with a reason"
    both = sorted(name for name in ALLOWED if name in back_office and is_marked(back_office[name].callback))
    assert both == [], "marked views need no allow-list entry"
    stale = sorted(set(ALLOWED) - set(back_office))
    assert stale == []
    assert all(reason for reason in ALLOWED.values())


def test_the_pages_of_the_audit_findings_are_marked():
    """Issue 10, finding 10: these showed personal data and wrote no audit entry."""
    marked = {name for name, _r, p in _walk(get_resolver()) if is_marked(p.callback)}
    assert {
        "people:edit",
        "people:list",
        "people:duplicates",
        "people:duplicate_review",
        "people:import_preview",
        "people:import_report",
        "people:import_rejected",
        "people:detail",
        "people:export",
    } <= marked


def test_every_admin_of_personal_data_logs_lists_and_records():
    allowed = {
        "membership.congress": "congress name, dates and territory",
        "membership.feeschedule": "fee amounts per year",
        "membership.regionalsurcharge": "surcharge amounts per region",
        "membership.membershiprules": "rules of a territory",
        "membership.alboelection": "election dates of a territory",
        "people.segment": "saved filters, no person",
        "people.importmapping": "saved column mappings, no row",
        "people.tag": "tag names",
        "compliance.financeruleset": "political-finance parameters, no person",
    }
    missing = sorted(
        model._meta.label_lower
        for model, model_admin in admin.site._registry.items()
        if model._meta.app_label in NAMESPACES | {"bank"}
        and not isinstance(model_admin, PersonalDataAdminMixin)
        and model._meta.label_lower not in allowed
    )
    assert missing == []


def _url(route: str, converters: dict[str, Any], value: int) -> str | None:
    """The route with `value` for every id and "csv" for an export format; None for a route
    behind a signed token or a slug (not a back-office id)."""
    path = route
    for name, converter in converters.items():
        if type(converter).__name__ == "IntConverter":
            path = path.replace(f"<int:{name}>", str(value))
        elif name == "fmt":
            path = path.replace(f"<str:{name}>", "csv")
        else:
            return None
    return "/" + path


def test_every_marked_page_writes_an_audit_entry_when_it_shows_something(tree):
    """Opened by a national administrator with real ids: each marked page that answers 200
    wrote at least one entry of kind VIEW or EXPORT for that request."""
    call_command("seed_demo", people=30, stdout=StringIO())
    official = make_official("sweep.g4", tree.national, list(Role.values))
    client = verified_client(official)
    ids: set[int] = set()
    for model in apps.get_models():
        if model.__module__.startswith("piazza.") and model._meta.pk.get_internal_type() in {
            "AutoField",
            "BigAutoField",
        }:
            ids.update(model._default_manager.order_by("-pk").values_list("pk", flat=True)[:3])
    shown, silent = set(), []
    for name, route, pattern in _walk(get_resolver()):
        if not is_marked(pattern.callback) or getattr(pattern.callback, EXPORT_MARK, None):
            continue  # exports: tests/test_export_sweep.py downloads each one and checks its entry
        converters = getattr(pattern.pattern, "converters", {})
        for value in sorted(ids) if converters else [0]:
            url = _url(route, converters, value)
            if url is None:
                break
            logged = AuditEntry.objects.filter(actor=official, kind__in=[AuditKind.VIEW, AuditKind.EXPORT])
            before = logged.count()
            if client.get(url).status_code != 200:
                continue
            if logged.count() <= before:
                silent.append(url)
            shown.add(name)
            break
    assert silent == []
    assert len(shown) >= 15, sorted(shown)
