"""Privacy notices: the public page of each notice (current and every past version, at stable
URLs) and the privacy officer's pages (versions with who saw which, publishing a new version)."""

from __future__ import annotations

import difflib

from django.conf import settings
from django.contrib import messages
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.translation import get_language
from django.views.decorators.http import require_http_methods

from piazza.core.markdown import render_markdown
from piazza.core.personal_data import note_access, shows_personal_data
from piazza.people.actions import notices as notice_actions
from piazza.people.models import CollectionPoint, NoticeAcceptance, NoticeVersion, PrivacyNotice
from piazza.people.notices import current_version
from piazza.privacy.forms import NoticeVersionForm
from piazza.privacy.requests import BOARD_ROLES, can_see_board
from piazza.territory.access import official_required

PEOPLE_PAGE = 500


def _key_or_404(key: str) -> str:
    if key not in CollectionPoint.values:
        raise Http404
    return key


def _language(request: HttpRequest) -> str:
    wanted = request.GET.get("lingua", "")
    return wanted if wanted in ("it", "en") else (get_language() or "it").split("-")[0]


def notice_current(request: HttpRequest, key: str) -> HttpResponse:
    """The notice in force for a point of collection, with the list of its past versions."""
    version = current_version(_key_or_404(key), _language(request))
    if version is None:
        raise Http404
    return _render_version(request, version, current=True)


def notice_version(request: HttpRequest, key: str, label: str) -> HttpResponse:
    """One version, at the URL the form linked and the records keep (never changes)."""
    versions = NoticeVersion.objects.filter(notice__key=_key_or_404(key), label=label).select_related("notice")
    version = versions.filter(language=_language(request)).first() or versions.filter(language="it").first()
    if version is None:
        raise Http404
    now = current_version(key, version.language)
    return _render_version(request, version, current=now is not None and now.pk == version.pk)


def _render_version(request: HttpRequest, version: NoticeVersion, *, current: bool) -> HttpResponse:
    history = NoticeVersion.objects.filter(notice_id=version.notice_id, language=version.language).order_by(
        "-published_at", "-id"
    )
    other = (
        NoticeVersion.objects.filter(notice_id=version.notice_id, label=version.label)
        .exclude(language=version.language)
        .first()
    )
    return render(
        request,
        "privacy/notice.html",
        {"version": version, "current": current, "history": history, "other_language": other},
    )


def _officer(request: HttpRequest) -> None:
    if not can_see_board(request.user):
        raise PermissionDenied


@official_required(BOARD_ROLES)
def notices_admin(request: HttpRequest) -> HttpResponse:
    """Every notice with its version in force per language and how many people accepted it."""
    _officer(request)
    notices = list(PrivacyNotice.objects.order_by("key"))
    rows = []
    for notice in notices:
        in_force = [current_version(notice.key, code) for code, _name in settings.LANGUAGES]
        current = [v for v, (code, _n) in zip(in_force, settings.LANGUAGES, strict=True) if v and v.language == code]
        total = NoticeAcceptance.objects.filter(version__notice=notice).count()
        rows.append({"notice": notice, "current": current, "accepted": total})
    return render(request, "privacy/notices_admin.html", {"rows": rows})


def _counts(notice: PrivacyNotice) -> list[dict[str, object]]:
    versions = (
        notice.versions.annotate(
            people=Count("acceptances__person", distinct=True),
            pending=Count("acceptances", filter=Q(acceptances__person__isnull=True)),
            acceptances_count=Count("acceptances"),
        )
        .select_related("published_by")
        .order_by("language", "-published_at", "-id")
    )
    return [
        {"version": v, "current": (c := current_version(notice.key, v.language)) is not None and c.pk == v.pk}
        for v in versions
    ]


@official_required(BOARD_ROLES)
def notice_admin(request: HttpRequest, key: str) -> HttpResponse:
    """A notice's versions, each with the number of people who accepted it: after a change, who
    saw which version (counts only; the names are one click further, audited)."""
    _officer(request)
    notice = get_object_or_404(PrivacyNotice, key=_key_or_404(key))
    return render(request, "privacy/notice_admin.html", {"notice": notice, "versions": _counts(notice)})


@official_required(BOARD_ROLES)
@shows_personal_data("privacy.notice_people")
def notice_people(request: HttpRequest, pk: int) -> HttpResponse:
    """The people who were shown and accepted one version (rule G4: the view is audited)."""
    _officer(request)
    version = get_object_or_404(NoticeVersion.objects.select_related("notice"), pk=pk)
    acceptances = list(
        NoticeAcceptance.objects.filter(version=version).select_related("person").order_by("-at", "-id")[:PEOPLE_PAGE]
    )
    total = NoticeAcceptance.objects.filter(version=version).count()
    note_access(obj=version, ids=[a.person_id for a in acceptances if a.person_id], count=len(acceptances))
    return render(
        request,
        "privacy/notice_people.html",
        {"version": version, "acceptances": acceptances, "total": total, "limit": PEOPLE_PAGE},
    )


def _diff(previous: NoticeVersion | None, body: str) -> list[tuple[str, str]]:
    """Line diff against the previous version: (kind, text) with kind "+", "-" or " "."""
    if previous is None:
        return []
    lines = difflib.ndiff(previous.body.splitlines(), body.splitlines())
    return [(line[0], line[2:]) for line in lines if line[:1] in "+- " and not line.startswith("? ")]


@official_required(BOARD_ROLES)
@require_http_methods(["GET", "POST"])
def notice_publish(request: HttpRequest, key: str) -> HttpResponse:
    """Write a new version: "Anteprima" shows it as the public will read it with the changes
    against the version in force; "Pubblica" publishes it (audited)."""
    _officer(request)
    notice = get_object_or_404(PrivacyNotice, key=_key_or_404(key))
    language = request.POST.get("language") or request.GET.get("lingua") or "it"
    previous = notice.versions.filter(language=language).order_by("-published_at", "-id").first()
    if request.method != "POST":
        initial = {"language": language}
        if previous is not None:
            initial |= {"title": previous.title, "body": previous.body}
        form = NoticeVersionForm(initial=initial)
        return render(request, "privacy/notice_publish.html", {"notice": notice, "form": form, "previous": previous})
    form = NoticeVersionForm(request.POST)
    context: dict[str, object] = {"notice": notice, "form": form, "previous": previous}
    if form.is_valid():
        data = form.cleaned_data
        if "publish" in request.POST:
            try:
                version = notice_actions.publish_notice_version(
                    actor=request.user,
                    notice=notice,
                    language=data["language"],
                    label=data["label"],
                    title=data["title"],
                    body=data["body"],
                    changes=data["changes"],
                )
            except ValidationError as exc:
                for field, errors in exc.error_dict.items() if hasattr(exc, "error_dict") else [(None, exc.messages)]:
                    form.add_error(field if field in form.fields else None, errors)
            else:
                messages.success(request, f"{version.title} · {version.label}")
                return redirect("privacy:notice_admin", key=notice.key)
        else:
            context |= {"preview_html": render_markdown(data["body"]), "diff": _diff(previous, data["body"])}
            return render(request, "privacy/notice_publish.html", context)
    return render(request, "privacy/notice_publish.html", context, status=400)
