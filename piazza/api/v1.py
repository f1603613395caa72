"""The OSDI API v1 (issue 16): HAL+JSON resources read through the scoped querysets, one write.

Every request carries a key (`OSDI-API-Token` or `Authorization: Bearer`); the key acts as its
owner cut down to the key's node (`access.key_actor`), so a key sees exactly what its owner's role
sees there, and answers 404 outside it. Every use is audited like a page view (rule G4).
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable
from typing import Any

from django.conf import settings
from django.core.cache import cache
from django.core.exceptions import PermissionDenied
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db.models import Count, Prefetch, Q, QuerySet, Sum
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import NinjaAPI, Query
from ninja.errors import AuthenticationError
from ninja.errors import ValidationError as NinjaValidationError
from ninja.renderers import JSONRenderer
from ninja.security import APIKeyHeader, HttpBearer
from pydantic import BaseModel, Field

from piazza.api import schemas as s
from piazza.api.access import key_actor, roles_for
from piazza.api.actions import Signup, find_key, note_key_use, person_signup_helper
from piazza.api.models import ApiKey, Permission
from piazza.core.errors import refuse
from piazza.funding.models import Campaign, Donation, DonationStatus
from piazza.membership.models import Membership, Status
from piazza.people.models import Consent, Person, Purpose, Segment, Tag
from piazza.people.queries import describe_definition, people_for
from piazza.territory.models import Level, Territory
from piazza.territory.scoping import scope_paths

MAX_PER_PAGE = 100
MAX_PAGE = 100_000


class RateLimited(Exception):
    def __init__(self, retry_after: int) -> None:
        self.retry_after = retry_after


def _rate(request: HttpRequest, key: ApiKey) -> None:
    """A fixed one-minute window per key in the shared cache (Redis in production)."""
    limit = int(getattr(settings, "API_RATE_PER_MINUTE", 600))
    now = int(time.time())
    start = now - now % 60
    counter = f"api:rate:{key.prefix}:{start}"
    cache.add(counter, 0, timeout=70)
    try:
        used = cache.incr(counter)
    except ValueError:  # expired between add and incr
        cache.set(counter, 1, timeout=70)
        used = 1
    reset = start + 60 - now
    request.api_rate = (limit, max(0, limit - used), reset)  # type: ignore[attr-defined]
    if used > limit:
        raise RateLimited(reset)


def _authenticate(request: HttpRequest, token: str | None) -> ApiKey | None:
    key = find_key(token or "")
    if key is None:
        return None
    _rate(request, key)
    request.api_key = key  # type: ignore[attr-defined]
    return key


class TokenHeader(APIKeyHeader):
    """OSDI's header."""

    param_name = "OSDI-API-Token"

    def authenticate(self, request: HttpRequest, key: str | None) -> ApiKey | None:
        return _authenticate(request, key)


class Bearer(HttpBearer):
    def authenticate(self, request: HttpRequest, token: str) -> ApiKey | None:
        return _authenticate(request, token)


class HalRenderer(JSONRenderer):
    media_type = "application/hal+json"


class PiazzaAPI(NinjaAPI):
    def create_response(self, request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        response = super().create_response(request, *args, **kwargs)
        rate = getattr(request, "api_rate", None)
        if rate is not None:
            response["RateLimit-Limit"], response["RateLimit-Remaining"], response["RateLimit-Reset"] = map(str, rate)
        return response


api = PiazzaAPI(
    title="piazza OSDI API",
    version="1.0.0",
    description=(
        "OSDI-compatible API (HAL+JSON). Authenticate with the `OSDI-API-Token` header or "
        "`Authorization: Bearer`. Extension resources live under `/piazza/`. See docs/api.md."
    ),
    urls_namespace="api-v1",
    auth=[TokenHeader(), Bearer()],
    renderer=HalRenderer(),
    openapi_url="/openapi.json",
    docs_url="/docs",
)

ERRORS: dict[int, type[BaseModel]] = {401: s.Error, 403: s.Error, 404: s.Error, 422: s.Error, 429: s.Error}


def _error(request: HttpRequest, status: int, message: str, detail: list[str] | None = None) -> HttpResponse:
    return api.create_response(request, {"error": message, "detail": detail or []}, status=status)


@api.exception_handler(RateLimited)
def _too_many(request: HttpRequest, exc: RateLimited) -> HttpResponse:
    response = _error(
        request, 429, _("Troppe richieste con questa chiave: riprova tra %(s)d secondi.") % {"s": exc.retry_after}
    )
    response["Retry-After"] = str(exc.retry_after)
    return response


@api.exception_handler(AuthenticationError)
def _unauthorised(request: HttpRequest, exc: Exception) -> HttpResponse:
    response = _error(
        request, 401, _("Chiave API mancante, sbagliata, scaduta o revocata: usa l'intestazione OSDI-API-Token.")
    )
    response["WWW-Authenticate"] = "Bearer"
    return response


@api.exception_handler(Http404)
def _not_found(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _error(request, 404, _("Risorsa non trovata (o fuori dal territorio della chiave)."))


@api.exception_handler(PermissionDenied)
def _forbidden(request: HttpRequest, exc: Exception) -> HttpResponse:
    return _error(request, 403, str(exc) or _("Questa chiave non ha il permesso per questa operazione."))


@api.exception_handler(DjangoValidationError)
def _invalid(request: HttpRequest, exc: DjangoValidationError) -> HttpResponse:
    return _error(request, 422, _("Dati non validi: correggi i campi indicati."), [str(m) for m in exc.messages])


@api.exception_handler(NinjaValidationError)
def _invalid_request(request: HttpRequest, exc: NinjaValidationError) -> HttpResponse:
    detail = [f"{'.'.join(str(p) for p in e.get('loc', []))}: {e.get('msg', '')}" for e in exc.errors]
    return _error(request, 422, _("Richiesta non valida: correggi i parametri indicati."), detail)


# --- helpers ------------------------------------------------------------------------------------


def _actor(request: HttpRequest, permission: str) -> Any:
    """The key's owner cut down to the key's node, once the key proves it holds `permission`."""
    key: ApiKey = request.auth  # type: ignore[attr-defined]
    if permission not in key.permissions:
        refuse(
            "api.read",
            _("Questa chiave non ha il permesso per questa operazione."),
            actor=key.owner,
            territory=key.territory,
            code="api_permission",
            permission=True,
        )
    cached = getattr(request, "api_actor", None)
    if cached is None:
        cached = request.api_actor = key_actor(key)  # type: ignore[attr-defined]
    return cached


def _seen(request: HttpRequest, actor: Any, identifiers: list[str]) -> None:
    note_key_use(
        key=request.auth,  # type: ignore[attr-defined]
        actor=actor,
        method=request.method or "",
        path=request.get_full_path()[:300],
        objects=identifiers,
    )


def _url(request: HttpRequest, path: str) -> str:
    return request.build_absolute_uri(f"/api/v1{path}")


def _link(request: HttpRequest, path: str) -> dict[str, str]:
    return {"href": _url(request, path)}


class Paging(BaseModel):
    page: int = Field(1, ge=1, le=MAX_PAGE)
    per_page: int = Field(25, ge=1, le=MAX_PER_PAGE)


def _paging(page: int, per_page: int) -> tuple[int, int]:
    return max(1, min(page, MAX_PAGE)), max(1, min(per_page, MAX_PER_PAGE))


def _collection(
    request: HttpRequest,
    actor: Any,
    queryset: QuerySet[Any] | list[Any],
    key: str,
    page: int,
    per_page: int,
    render: Callable[[Any], dict[str, Any]],
) -> dict[str, Any]:
    """An OSDI collection page with `total_pages`, `_links.next/prev` and `_embedded[key]`."""
    page, per_page = _paging(page, per_page)
    total = queryset.count() if isinstance(queryset, QuerySet) else len(queryset)
    pages = max(1, math.ceil(total / per_page))
    items = [render(obj) for obj in queryset[(page - 1) * per_page : page * per_page]]
    here = request.path

    def at(number: int) -> dict[str, str]:
        return {"href": request.build_absolute_uri(f"{here}?page={number}&per_page={per_page}")}

    links: dict[str, Any] = {"self": at(page)}
    if page < pages:
        links["next"] = at(page + 1)
    if page > 1:
        links["prev"] = at(min(page - 1, pages))
    _seen(request, actor, [i for item in items for i in item.get("identifiers", [])])
    return {
        "total_pages": pages,
        "per_page": per_page,
        "page": page,
        "total_records": total,
        "_links": links,
        "_embedded": {key: items},
    }


def _cents(cents: int | None) -> str:
    cents = int(cents or 0)
    sign = "-" if cents < 0 else ""
    return f"{sign}{abs(cents) // 100}.{abs(cents) % 100:02d}"


def _pk(value: str) -> int:
    """A path id: the number, or an OSDI identifier ending in it; 404 for anything else."""
    tail = value.rsplit("-", 1)[-1]
    if not (tail.isascii() and tail.isdigit()) or len(tail) > 18:
        raise Http404
    return int(tail)


# --- representations ----------------------------------------------------------------------------


def _territory(node: Territory) -> dict[str, Any]:
    return {"identifiers": [f"piazza:territory-{node.pk}"], "name": node.name, "level": node.level}


def _person(request: HttpRequest, person: Person) -> dict[str, Any]:
    subscribed = bool(person.political and person.political[0].granted)  # type: ignore[attr-defined]
    addresses = []
    for kind, street, cap, comune in (
        ("Home", person.residence_street, person.residence_cap, person.residence_comune),
        ("Domicile", person.domicile_street, person.domicile_cap, person.domicile_comune),
    ):
        if street or cap or comune:
            addresses.append(
                {
                    "address_lines": [street] if street else [],
                    "postal_code": cap,
                    "locality": comune.name if comune else "",
                    "region": comune.province_sigla if comune else "",
                    "country": "IT",
                    "primary": kind == "Home",
                    "address_type": kind,
                }
            )
    return {
        "identifiers": [f"piazza:person-{person.pk}"],
        "created_date": person.created_at,
        "modified_date": person.updated_at,
        "given_name": person.first_name,
        "family_name": person.last_name,
        "email_addresses": [
            {"address": e.value, "primary": e.primary, "status": "subscribed" if subscribed else "unsubscribed"}
            for e in person.emails.all()
        ],
        "phone_numbers": [
            {"number": p.value, "primary": p.primary, "number_type": "Mobile"} for p in person.phones.all()
        ],
        "postal_addresses": addresses,
        "custom_fields": {"source": person.source},
        "piazza:territory": _territory(person.territory),
        "_links": {
            "self": _link(request, f"/people/{person.pk}"),
            "osdi:taggings": _link(request, f"/people/{person.pk}/taggings"),
        },
    }


def _people(actor: Any) -> QuerySet[Person]:
    political = Consent.objects.filter(purpose=Purpose.POLITICAL_COMMUNICATION).order_by("-at", "-pk")
    return (
        Person.objects.visible_to(actor, roles=roles_for(Permission.READ_PEOPLE))
        .active()
        .select_related("territory", "residence_comune", "domicile_comune")
        .prefetch_related("emails", "phones", Prefetch("consents", queryset=political, to_attr="political"))
        .order_by("pk")
    )


def _tag(request: HttpRequest, tag: Tag) -> dict[str, Any]:
    return {
        "identifiers": [f"piazza:tag-{tag.pk}"],
        "created_date": tag.created_at,
        "name": tag.name,
        "_links": {
            "self": _link(request, f"/tags/{tag.pk}"),
            "osdi:taggings": _link(request, f"/tags/{tag.pk}/taggings"),
        },
    }


def _tagging(request: HttpRequest, person_id: int, tag_id: int) -> dict[str, Any]:
    return {
        "identifiers": [f"piazza:person-{person_id}"],
        "_links": {
            "self": _link(request, f"/tags/{tag_id}/taggings"),
            "osdi:person": _link(request, f"/people/{person_id}"),
            "osdi:tag": _link(request, f"/tags/{tag_id}"),
        },
    }


# --- entry point --------------------------------------------------------------------------------


@api.get("/", response={200: s.EntryPoint, **ERRORS}, by_alias=True, summary="API entry point (AEP)")
def entry_point(request: HttpRequest) -> dict[str, Any]:
    key: ApiKey = request.auth  # type: ignore[attr-defined]
    links: dict[str, Any] = {"self": _link(request, "/")}
    offered = {
        Permission.READ_PEOPLE: [("osdi:people", "/people"), ("osdi:tags", "/tags"), ("osdi:lists", "/lists")],
        Permission.WRITE_PEOPLE: [("osdi:person_signup_helper", "/people/person_signup_helper")],
        Permission.READ_DONATIONS: [("osdi:donations", "/donations")],
        Permission.READ_CAMPAIGNS: [("osdi:fundraising_pages", "/fundraising_pages")],
        Permission.READ_MEMBERSHIPS: [
            ("piazza:memberships", "/piazza/memberships"),
            ("piazza:membership_years", "/piazza/membership_years"),
            ("piazza:circoli", "/piazza/circoli"),
        ],
        Permission.READ_EVENTS: [("osdi:events", "/events")],
        Permission.READ_PETITIONS: [("osdi:petitions", "/petitions")],
        Permission.READ_MESSAGES: [("osdi:messages", "/messages")],
    }
    for permission, pairs in offered.items():
        if permission in key.permissions:
            links.update({rel: _link(request, path) for rel, path in pairs})
    links["docs"] = _link(request, "/docs")
    return {
        "motd": _("API di piazza: chiave «%(name)s», territorio %(territory)s.")
        % {"name": key.name, "territory": key.territory.name},
        "vendor_name": "piazza",
        "product_name": "piazza",
        "osdi_version": "1.1",
        "_links": links,
    }


# --- people, tags, lists ------------------------------------------------------------------------


@api.post("/people/person_signup_helper", response={200: s.Person, **ERRORS}, by_alias=True, tags=["people"])
def signup_helper(request: HttpRequest, body: s.SignupHelper) -> dict[str, Any]:
    """OSDI person signup helper: finds or creates the person as the import and the forms do."""
    actor = _actor(request, Permission.WRITE_PEOPLE)
    circolo = None
    if body.piazza_circolo:
        circolo = Territory.objects.filter(
            pk=_pk(body.piazza_circolo) if body.piazza_circolo.rsplit("-", 1)[-1].isdigit() else 0,
            level=Level.CIRCOLO,
        ).first()
        if circolo is None or not any(
            circolo.path.startswith(p) for p in scope_paths(actor, roles_for(Permission.WRITE_PEOPLE))
        ):
            raise DjangoValidationError(
                _("Circolo «%(id)s» sconosciuto o fuori dal territorio della chiave.") % {"id": body.piazza_circolo}
            )
    elif request.auth.territory.level == Level.CIRCOLO:  # type: ignore[attr-defined]
        circolo = request.auth.territory  # type: ignore[attr-defined]
    p = body.person
    address = p.postal_addresses[0] if p.postal_addresses else None
    data: dict[str, Any] = {
        "first_name": p.given_name,
        "last_name": p.family_name,
        "emails": [e.address for e in p.email_addresses],
        "phones": [n.number for n in p.phone_numbers],
        "tags": body.add_tags,
    }
    if p.birthdate:
        data["birth_date"] = p.birthdate.isoformat()
    if address is not None:
        data.update(
            residence_street=" ".join(address.address_lines),
            residence_cap=address.postal_code,
            residence_comune=address.locality,
        )
    person = person_signup_helper(
        actor=actor,
        key=request.auth,  # type: ignore[attr-defined]
        signup=Signup(data=data, consents=body.piazza_consents, circolo=circolo),  # type: ignore[arg-type]
    )
    readable = Permission.READ_PEOPLE in request.auth.permissions  # type: ignore[attr-defined]
    found = _people(actor).filter(pk=person.pk).first() if readable else None
    if found is None:  # a person the key may not read, matched or new: the same empty answer
        return _stub(request)
    return _person(request, found)


def _stub(request: HttpRequest) -> dict[str, Any]:
    """The helper's answer about a person the key may not read: nothing of them, not even when
    their record was made, so a match elsewhere reads exactly as a new person (convention 16)."""
    now = timezone.now()
    return {
        "identifiers": [],
        "created_date": now,
        "modified_date": now,
        "given_name": "",
        "family_name": "",
        "email_addresses": [],
        "phone_numbers": [],
        "postal_addresses": [],
        "custom_fields": {},
        "piazza:territory": {"identifiers": [], "name": "", "level": ""},
        "_links": {"self": _link(request, "/people")},
    }


@api.get("/people", response={200: s.PeoplePage, **ERRORS}, by_alias=True, tags=["people"])
def list_people(request: HttpRequest, paging: Query[Paging]) -> dict[str, Any]:
    actor = _actor(request, Permission.READ_PEOPLE)
    return _collection(
        request, actor, _people(actor), "osdi:people", paging.page, paging.per_page, lambda p: _person(request, p)
    )


@api.get("/people/{person_id}", response={200: s.Person, **ERRORS}, by_alias=True, tags=["people"])
def get_person(request: HttpRequest, person_id: str) -> dict[str, Any]:
    actor = _actor(request, Permission.READ_PEOPLE)
    person = get_object_or_404(_people(actor), pk=_pk(person_id))
    _seen(request, actor, [f"piazza:person-{person.pk}"])
    return _person(request, person)


@api.get("/people/{person_id}/taggings", response={200: s.TaggingsPage, **ERRORS}, by_alias=True, tags=["people"])
def person_taggings(request: HttpRequest, person_id: str, paging: Query[Paging]) -> dict[str, Any]:
    actor = _actor(request, Permission.READ_PEOPLE)
    person = get_object_or_404(_people(actor), pk=_pk(person_id))
    tags = person.tags.order_by("pk")
    return _collection(
        request,
        actor,
        tags,
        "osdi:taggings",
        paging.page,
        paging.per_page,
        lambda t: _tagging(request, person.pk, t.pk),
    )


@api.get("/tags", response={200: s.TagsPage, **ERRORS}, by_alias=True, tags=["tags"])
def list_tags(request: HttpRequest, paging: Query[Paging]) -> dict[str, Any]:
    actor = _actor(request, Permission.READ_PEOPLE)
    return _collection(
        request,
        actor,
        Tag.objects.order_by("pk"),
        "osdi:tags",
        paging.page,
        paging.per_page,
        lambda t: _tag(request, t),
    )


@api.get("/tags/{tag_id}", response={200: s.Tag, **ERRORS}, by_alias=True, tags=["tags"])
def get_tag(request: HttpRequest, tag_id: str) -> dict[str, Any]:
    actor = _actor(request, Permission.READ_PEOPLE)
    tag = get_object_or_404(Tag, pk=_pk(tag_id))
    _seen(request, actor, [f"piazza:tag-{tag.pk}"])
    return _tag(request, tag)


@api.get("/tags/{tag_id}/taggings", response={200: s.TaggingsPage, **ERRORS}, by_alias=True, tags=["tags"])
def tag_taggings(request: HttpRequest, tag_id: str, paging: Query[Paging]) -> dict[str, Any]:
    actor = _actor(request, Permission.READ_PEOPLE)
    tag = get_object_or_404(Tag, pk=_pk(tag_id))
    people = _people(actor).filter(tags=tag).values_list("pk", flat=True)
    return _collection(
        request, actor, people, "osdi:taggings", paging.page, paging.per_page, lambda pk: _tagging(request, pk, tag.pk)
    )


def _segment(request: HttpRequest, segment: Segment) -> dict[str, Any]:
    return {
        "identifiers": [f"piazza:list-{segment.pk}"],
        "created_date": segment.created_at,
        "modified_date": segment.updated_at,
        "name": segment.name,
        "description": describe_definition(segment.definition),
        "_links": {
            "self": _link(request, f"/lists/{segment.pk}"),
            "osdi:items": _link(request, f"/lists/{segment.pk}/items"),
        },
    }


def _segments(actor: Any) -> QuerySet[Segment]:
    return Segment.objects.visible_to(actor, roles=roles_for(Permission.READ_PEOPLE)).order_by("pk")


@api.get("/lists", response={200: s.ListsPage, **ERRORS}, by_alias=True, tags=["lists"])
def list_lists(request: HttpRequest, paging: Query[Paging]) -> dict[str, Any]:
    actor = _actor(request, Permission.READ_PEOPLE)
    return _collection(
        request, actor, _segments(actor), "osdi:lists", paging.page, paging.per_page, lambda seg: _segment(request, seg)
    )


@api.get("/lists/{list_id}", response={200: s.SegmentList, **ERRORS}, by_alias=True, tags=["lists"])
def get_list(request: HttpRequest, list_id: str) -> dict[str, Any]:
    actor = _actor(request, Permission.READ_PEOPLE)
    segment = get_object_or_404(_segments(actor), pk=_pk(list_id))
    _seen(request, actor, [f"piazza:list-{segment.pk}"])
    return _segment(request, segment)


@api.get("/lists/{list_id}/items", response={200: s.ItemsPage, **ERRORS}, by_alias=True, tags=["lists"])
def list_items(request: HttpRequest, list_id: str, paging: Query[Paging]) -> dict[str, Any]:
    """The people of a list (segment), computed now within the key's scope."""
    actor = _actor(request, Permission.READ_PEOPLE)
    segment = get_object_or_404(_segments(actor), pk=_pk(list_id))
    people = people_for(actor, segment.definition).order_by("pk").values_list("pk", flat=True)

    def item(pk: int) -> dict[str, Any]:
        return {
            "identifiers": [f"piazza:person-{pk}"],
            "_links": {
                "self": _link(request, f"/lists/{segment.pk}/items"),
                "osdi:person": _link(request, f"/people/{pk}"),
            },
        }

    return _collection(request, actor, people, "osdi:items", paging.page, paging.per_page, item)


# --- donations and fundraising pages -----------------------------------------------------------


def _donation(request: HttpRequest, donation: Donation) -> dict[str, Any]:
    links: dict[str, Any] = {
        "self": _link(request, f"/donations/{donation.pk}"),
        "osdi:fundraising_page": _link(request, f"/fundraising_pages/{donation.campaign_id}"),
    }
    if donation.person_id:
        links["osdi:person"] = _link(request, f"/people/{donation.person_id}")
    return {
        "identifiers": [f"piazza:donation-{donation.pk}"],
        "created_date": donation.created_at,
        "action_date": donation.succeeded_at,
        "amount": _cents(donation.amount_cents),
        "currency": donation.currency,
        "recipients": [{"display_name": donation.campaign.title, "amount": _cents(donation.amount_cents)}],
        "payment": {"method": donation.payment.provider if donation.payment else "", "reference_number": ""},
        "referrer_data": {"source": donation.refcode} if donation.refcode else {},
        "piazza:status": donation.status,
        "piazza:frequency": donation.frequency,
        "_links": links,
    }


def _donations(actor: Any) -> QuerySet[Donation]:
    return (
        Donation.objects.visible_to(actor, roles=roles_for(Permission.READ_DONATIONS))
        .select_related("campaign", "payment")
        .order_by("pk")
    )


@api.get("/donations", response={200: s.DonationsPage, **ERRORS}, by_alias=True, tags=["donations"])
def list_donations(request: HttpRequest, paging: Query[Paging]) -> dict[str, Any]:
    """Read only: no endpoint records a donation as received."""
    actor = _actor(request, Permission.READ_DONATIONS)
    return _collection(
        request,
        actor,
        _donations(actor),
        "osdi:donations",
        paging.page,
        paging.per_page,
        lambda d: _donation(request, d),
    )


@api.get("/donations/{donation_id}", response={200: s.Donation, **ERRORS}, by_alias=True, tags=["donations"])
def get_donation(request: HttpRequest, donation_id: str) -> dict[str, Any]:
    actor = _actor(request, Permission.READ_DONATIONS)
    donation = get_object_or_404(_donations(actor), pk=_pk(donation_id))
    _seen(request, actor, [f"piazza:donation-{donation.pk}"])
    return _donation(request, donation)


def _campaigns(actor: Any) -> QuerySet[Campaign]:
    succeeded = Q(donations__status=DonationStatus.SUCCEEDED)
    return (
        Campaign.objects.visible_to(actor, roles=roles_for(Permission.READ_CAMPAIGNS))
        .annotate(
            n_donations=Count("donations", filter=succeeded), raised=Sum("donations__amount_cents", filter=succeeded)
        )
        .order_by("pk")
    )


def _campaign(request: HttpRequest, campaign: Campaign) -> dict[str, Any]:
    return {
        "identifiers": [f"piazza:fundraising_page-{campaign.pk}"],
        "created_date": campaign.created_at,
        "title": campaign.title,
        "description": campaign.summary,
        "browser_url": request.build_absolute_uri(campaign.get_absolute_url()),
        "total_donations": campaign.n_donations,  # type: ignore[attr-defined]
        "total_amount": _cents(campaign.raised),  # type: ignore[attr-defined]
        "currency": campaign.currency,
        "piazza:goal": _cents(campaign.goal_cents),
        "piazza:status": campaign.status,
        "piazza:deadline": campaign.deadline,
        "_links": {
            "self": _link(request, f"/fundraising_pages/{campaign.pk}"),
            "osdi:donations": _link(request, "/donations"),
        },
    }


@api.get("/fundraising_pages", response={200: s.FundraisingPagesPage, **ERRORS}, by_alias=True, tags=["fundraising"])
def list_campaigns(request: HttpRequest, paging: Query[Paging]) -> dict[str, Any]:
    actor = _actor(request, Permission.READ_CAMPAIGNS)
    return _collection(
        request,
        actor,
        _campaigns(actor),
        "osdi:fundraising_pages",
        paging.page,
        paging.per_page,
        lambda c: _campaign(request, c),
    )


@api.get(
    "/fundraising_pages/{page_id}", response={200: s.FundraisingPage, **ERRORS}, by_alias=True, tags=["fundraising"]
)
def get_campaign(request: HttpRequest, page_id: str) -> dict[str, Any]:
    actor = _actor(request, Permission.READ_CAMPAIGNS)
    campaign = get_object_or_404(_campaigns(actor), pk=_pk(page_id))
    _seen(request, actor, [f"piazza:fundraising_page-{campaign.pk}"])
    return _campaign(request, campaign)


# --- piazza extension: memberships, membership years, circoli ----------------------------------


def _memberships(actor: Any) -> QuerySet[Membership]:
    return Membership.objects.visible_to(actor, roles=roles_for(Permission.READ_MEMBERSHIPS)).order_by("pk")


def _membership(request: HttpRequest, membership: Membership) -> dict[str, Any]:
    return {
        "identifiers": [f"piazza:membership-{membership.pk}"],
        "year": membership.year,
        "status": membership.status,
        "is_renewal": membership.is_renewal,
        "card_number": membership.card_number,
        "applied_date": membership.applied_at,
        "paid_date": membership.paid_at,
        "effective_date": membership.effective_at,
        "ended_date": membership.ended_at,
        "_links": {
            "self": _link(request, f"/piazza/memberships/{membership.pk}"),
            "osdi:person": _link(request, f"/people/{membership.person_id}"),
            "piazza:circolo": _link(request, f"/piazza/circoli/{membership.circolo_id}"),
        },
    }


@api.get("/piazza/memberships", response={200: s.MembershipsPage, **ERRORS}, by_alias=True, tags=["piazza extension"])
def list_memberships(request: HttpRequest, paging: Query[Paging], year: int | None = None) -> dict[str, Any]:
    actor = _actor(request, Permission.READ_MEMBERSHIPS)
    memberships = _memberships(actor)
    if year is not None:
        memberships = memberships.filter(year=year)
    return _collection(
        request,
        actor,
        memberships,
        "piazza:memberships",
        paging.page,
        paging.per_page,
        lambda m: _membership(request, m),
    )


@api.get(
    "/piazza/memberships/{membership_id}",
    response={200: s.Membership, **ERRORS},
    by_alias=True,
    tags=["piazza extension"],
)
def get_membership(request: HttpRequest, membership_id: str) -> dict[str, Any]:
    actor = _actor(request, Permission.READ_MEMBERSHIPS)
    membership = get_object_or_404(_memberships(actor), pk=_pk(membership_id))
    _seen(request, actor, [f"piazza:membership-{membership.pk}"])
    return _membership(request, membership)


@api.get(
    "/piazza/membership_years",
    response={200: s.MembershipYearsPage, **ERRORS},
    by_alias=True,
    tags=["piazza extension"],
)
def membership_years(request: HttpRequest, paging: Query[Paging]) -> dict[str, Any]:
    """Counts per membership year within the key's scope (the figures of the membership overview)."""
    actor = _actor(request, Permission.READ_MEMBERSHIPS)
    rows = list(
        _memberships(actor)
        .order_by()
        .values("year")
        .annotate(
            applied=Count("pk", filter=Q(status=Status.APPLIED)),
            paid=Count("pk", filter=Q(status=Status.PAID)),
            effective=Count("pk", filter=Q(status=Status.EFFECTIVE)),
        )
        .order_by("-year")
    )

    def year(row: dict[str, Any]) -> dict[str, Any]:
        return {**row, "_links": {"self": _link(request, f"/piazza/memberships?year={row['year']}")}}

    return _collection(request, actor, rows, "piazza:membership_years", paging.page, paging.per_page, year)


def _circoli(actor: Any) -> QuerySet[Territory]:
    condition = Q(pk__in=[])
    for path in scope_paths(actor, roles_for(Permission.READ_MEMBERSHIPS)):
        condition |= Q(path__startswith=path)
    return Territory.objects.filter(condition, level=Level.CIRCOLO).select_related("parent").order_by("pk")


def _circolo(request: HttpRequest, node: Territory) -> dict[str, Any]:
    return {
        "identifiers": [f"piazza:circolo-{node.pk}"],
        "name": node.name,
        "kind": node.kind,
        "parent": node.parent.name if node.parent else "",
        "_links": {"self": _link(request, f"/piazza/circoli/{node.pk}")},
    }


@api.get("/piazza/circoli", response={200: s.CircoliPage, **ERRORS}, by_alias=True, tags=["piazza extension"])
def list_circoli(request: HttpRequest, paging: Query[Paging]) -> dict[str, Any]:
    actor = _actor(request, Permission.READ_MEMBERSHIPS)
    return _collection(
        request, actor, _circoli(actor), "piazza:circoli", paging.page, paging.per_page, lambda c: _circolo(request, c)
    )


@api.get("/piazza/circoli/{circolo_id}", response={200: s.Circolo, **ERRORS}, by_alias=True, tags=["piazza extension"])
def get_circolo(request: HttpRequest, circolo_id: str) -> dict[str, Any]:
    actor = _actor(request, Permission.READ_MEMBERSHIPS)
    node = get_object_or_404(_circoli(actor), pk=_pk(circolo_id))
    _seen(request, actor, [f"piazza:circolo-{node.pk}"])
    return _circolo(request, node)


# --- resources in their own modules (piazza/api/osdi/), mounted last: they import the helpers above

from piazza.api.osdi import events as _events_api  # noqa: E402
from piazza.api.osdi import messages as _messages_api  # noqa: E402
from piazza.api.osdi import petitions as _petitions_api  # noqa: E402

for _router in (_events_api.router, _petitions_api.router, _messages_api.router):
    api.add_router("", _router)
