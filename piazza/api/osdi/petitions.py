"""OSDI petitions and signatures (issue 16): read through the scoped querysets (a petition is the
key's when its territory is; its signatures with it), and the record signature helper, which goes
through `petitions.actions.sign_petition` exactly as the public page does: the page's form
validates (comune, CAP, email, phone, the petition's questions), one signature per email (the
action's dedupe), the counter slot, then the task's matching into people, consents and email.

`petition_representation` and `signature_representation` are also the webhooks' payloads.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest
from django.shortcuts import get_object_or_404
from django.utils.translation import gettext as _
from ninja import Query, Router
from pydantic import ConfigDict, Field

from piazza.api import schemas as s
from piazza.api.access import roles_for
from piazza.api.models import Permission
from piazza.api.osdi.common import RecordHelper, TypedPerson, form_refusal, person_fields, typed_person
from piazza.api.v1 import ERRORS, Paging, _actor, _collection, _link, _pk, _seen, _territory
from piazza.people.models import Purpose
from piazza.people.notices import FIELD, current_version
from piazza.petitions.actions import SIGNER_PURPOSES, SignatureInput, sign_petition
from piazza.petitions.forms import SignatureForm
from piazza.petitions.models import Petition, Signature
from piazza.petitions.queries import signature_count

router: Router = Router(tags=["petitions"])

CONSENT_FIELDS = {Purpose.POLITICAL_COMMUNICATION: "consent_political", Purpose.NEWSLETTER: "consent_newsletter"}


class Target(s.Model):
    name: str


class PetitionOut(s.Model):
    identifiers: list[str]
    created_date: dt.datetime
    title: str
    description: str
    petition_text: str
    target: list[Target]
    total_signatures: int
    browser_url: str
    piazza_kind: str = Field(alias="piazza:kind", description="petition, or form (a sign-up form)")
    piazza_goal: int = Field(alias="piazza:goal")
    piazza_open: bool = Field(alias="piazza:open")
    piazza_territory: s.Territory = Field(alias="piazza:territory")
    links: s.Links = Field(alias="_links")


class SignatureOut(s.Model):
    identifiers: list[str]
    created_date: dt.datetime
    modified_date: dt.datetime
    person: TypedPerson
    piazza_answers: dict[str, str] = Field(alias="piazza:answers", description="Answers per question id")
    piazza_consents: list[str] = Field(alias="piazza:consents", description="Purposes the signer ticked (G3)")
    links: s.Links = Field(alias="_links")


class SignatureHelper(RecordHelper):
    model_config = ConfigDict(extra="ignore", populate_by_name=True)
    piazza_answers: dict[str, str] = Field(
        default={},
        alias="piazza:answers",
        description="Answers per question id (a choice: the option's text; yes/no: yes or no)",
    )


PetitionsPage = s.collection("PetitionsPage", "osdi:petitions", PetitionOut)
SignaturesPage = s.collection("SignaturesPage", "osdi:signatures", SignatureOut)


def petition_representation(request: HttpRequest, petition: Petition) -> dict[str, Any]:
    """The OSDI petition with its public counter (the sum of its slots, convention 9)."""
    return {
        "identifiers": [f"piazza:petition-{petition.pk}"],
        "created_date": petition.created_at,
        "title": petition.title,
        "description": petition.text,
        "petition_text": petition.text,
        "target": [{"name": petition.target}] if petition.target else [],
        "total_signatures": signature_count(petition.pk),
        "browser_url": request.build_absolute_uri(petition.get_absolute_url()),
        "piazza:kind": petition.kind,
        "piazza:goal": petition.goal,
        "piazza:open": petition.is_open,
        "piazza:territory": _territory(petition.territory),
        "_links": {
            "self": _link(request, f"/petitions/{petition.pk}"),
            "osdi:signatures": _link(request, f"/petitions/{petition.pk}/signatures"),
            "osdi:record_signature_helper": _link(request, f"/petitions/{petition.pk}/signatures"),
        },
    }


def signature_representation(request: HttpRequest, signature: Signature) -> dict[str, Any]:
    """The OSDI signature: the signer as typed, never a link to the person matched (convention 16)."""
    return {
        "identifiers": [f"piazza:signature-{signature.pk}"],
        "created_date": signature.signed_at,
        "modified_date": signature.signed_at,
        "person": typed_person(
            first_name=signature.first_name,
            last_name=signature.last_name,
            email=signature.email,
            phone=signature.phone,
            comune=signature.comune,
            postal_code=signature.postal_code,
        ),
        "piazza:answers": {str(k): str(v) for k, v in (signature.answers or {}).items()},
        "piazza:consents": list(signature.consents or []),
        "_links": {
            "self": _link(request, f"/petitions/{signature.petition_id}/signatures/{signature.pk}"),
            "osdi:petition": _link(request, f"/petitions/{signature.petition_id}"),
        },
    }


def _petitions(actor: Any, permission: str = Permission.READ_PETITIONS) -> QuerySet[Petition]:
    return Petition.objects.visible_to(actor, roles=roles_for(permission)).select_related("territory").order_by("pk")


def _signatures(actor: Any, petition: Petition) -> QuerySet[Signature]:
    return (
        Signature.objects.visible_to(actor, roles=roles_for(Permission.READ_PETITIONS))
        .filter(petition=petition)
        .select_related("comune")
        .order_by("pk")
    )


class ApiSignatureForm(SignatureForm):
    """The public page's form without its defences against bots (honeypot, fill time): a key is
    no anonymous browser, and its rate limit stands in for the page's throttle."""

    def clean(self) -> dict[str, Any]:
        return forms.Form.clean(self) or {}


@router.get("/petitions", response={200: PetitionsPage, **ERRORS}, by_alias=True)
def list_petitions(request: HttpRequest, paging: Query[Paging]) -> dict[str, Any]:
    actor = _actor(request, Permission.READ_PETITIONS)
    return _collection(
        request,
        actor,
        _petitions(actor),
        "osdi:petitions",
        paging.page,
        paging.per_page,
        lambda p: petition_representation(request, p),
    )


@router.get("/petitions/{petition_id}", response={200: PetitionOut, **ERRORS}, by_alias=True)
def get_petition(request: HttpRequest, petition_id: str) -> dict[str, Any]:
    actor = _actor(request, Permission.READ_PETITIONS)
    petition = get_object_or_404(_petitions(actor), pk=_pk(petition_id))
    _seen(request, actor, [f"piazza:petition-{petition.pk}"])
    return petition_representation(request, petition)


@router.get("/petitions/{petition_id}/signatures", response={200: SignaturesPage, **ERRORS}, by_alias=True)
def list_signatures(request: HttpRequest, petition_id: str, paging: Query[Paging]) -> dict[str, Any]:
    """Personal data: every signature returned is named in the audit entry (rule G4)."""
    actor = _actor(request, Permission.READ_PETITIONS)
    petition = get_object_or_404(_petitions(actor), pk=_pk(petition_id))
    return _collection(
        request,
        actor,
        _signatures(actor, petition),
        "osdi:signatures",
        paging.page,
        paging.per_page,
        lambda sig: signature_representation(request, sig),
    )


@router.get("/petitions/{petition_id}/signatures/{signature_id}", response={200: SignatureOut, **ERRORS}, by_alias=True)
def get_signature(request: HttpRequest, petition_id: str, signature_id: str) -> dict[str, Any]:
    actor = _actor(request, Permission.READ_PETITIONS)
    petition = get_object_or_404(_petitions(actor), pk=_pk(petition_id))
    signature = get_object_or_404(_signatures(actor, petition), pk=_pk(signature_id))
    _seen(request, actor, [f"piazza:signature-{signature.pk}"])
    return signature_representation(request, signature)


@router.post("/petitions/{petition_id}/signatures", response={200: SignatureOut, **ERRORS}, by_alias=True)
def record_signature(request: HttpRequest, petition_id: str, body: SignatureHelper) -> dict[str, Any]:
    """OSDI record signature helper: `sign_petition` after the public page's form, with the petition's
    privacy notice in force as the one shown. The same email again is the same signature (no second
    row, no second count), answered as the first."""
    actor = _actor(request, Permission.WRITE_PETITIONS)
    petition = get_object_or_404(_petitions(actor, Permission.WRITE_PETITIONS), pk=_pk(petition_id))
    unknown = sorted(p for p in body.piazza_consents if p not in SIGNER_PURPOSES)
    if unknown:
        raise ValidationError(
            _("Finalità di consenso che una petizione non raccoglie: %(names)s. Usa: %(known)s.")
            % {"names": ", ".join(unknown), "known": ", ".join(str(p) for p in SIGNER_PURPOSES)}
        )
    questions = list(petition.questions.all())
    asked = {str(q.pk) for q in questions}
    strangers = sorted(set(body.piazza_answers) - asked)
    if strangers:
        raise ValidationError(
            _("Questa petizione non ha le domande %(ids)s: rispondi solo a %(known)s.")
            % {"ids": ", ".join(strangers), "known": ", ".join(sorted(asked)) or _("nessuna domanda")}
        )
    data: dict[str, Any] = person_fields(body)
    data.update({f"q_{pk}": value for pk, value in body.piazza_answers.items()})
    for purpose, name in CONSENT_FIELDS.items():
        data[name] = "on" if body.piazza_consents.get(purpose) else ""
    notice = current_version(petition.notice_key)
    if notice is not None:
        data[FIELD] = str(notice.pk)
    form = ApiSignatureForm(data, petition=petition, questions=questions)
    if not form.is_valid():
        raise form_refusal(form)
    cleaned = form.cleaned_data
    outcome = sign_petition(
        actor=actor,
        petition=petition,
        data=SignatureInput(
            first_name=cleaned["first_name"],
            last_name=cleaned["last_name"],
            email=cleaned["email"],
            comune=cleaned["comune"],
            postal_code=cleaned["postal_code"],
            phone=cleaned["phone"],
            answers=form.answers(),
            purposes=form.purposes(),
            notice=cleaned.get(FIELD),
        ),
    )
    _seen(request, actor, [f"piazza:signature-{outcome.signature.pk}"])
    return signature_representation(request, outcome.signature)
