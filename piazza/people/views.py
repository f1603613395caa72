"""Back-office pages of the people database. Every read is scoped (404 outside the subtree),
every person view is logged (rule G4), every write goes through `actions`."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.core.exceptions import ValidationError
from django.core.paginator import Paginator
from django.db.models import Count
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, redirect, render
from django.utils.html import escape
from django.utils.translation import gettext as _
from django.views.decorators.http import require_POST

from piazza.core.exports import as_response, export_view
from piazza.core.personal_data import note_access, shows_personal_data
from piazza.core.replica import reading_stale
from piazza.people.actions import consent as consent_actions
from piazza.people.actions import duplicates as duplicates_actions
from piazza.people.actions import exports as exports_actions
from piazza.people.actions import imports as imports_actions
from piazza.people.actions import person as person_actions
from piazza.people.actions import scope as scope_actions
from piazza.people.actions import segments as segments_actions
from piazza.people.forms import (
    CloseRequestForm,
    ConfirmRunForm,
    ConsentForm,
    ExportForm,
    MappingForm,
    PersonForm,
    ResolveCodeDateForm,
    SearchForm,
    SegmentBuilderForm,
    SegmentForm,
    TargetForm,
    UploadForm,
)
from piazza.people.import_targets import TARGETS, get_target
from piazza.people.imports import row_to_data
from piazza.people.models import (
    READ_ROLES,
    WRITE_ROLES,
    BatchStatus,
    CodeDateReview,
    ImportBatch,
    ImportMapping,
    Person,
    ReviewStatus,
    RowStatus,
    ScopeRequest,
    Segment,
)
from piazza.people.queries import (
    CappedPaginator,
    contact_permission,
    count_in_words,
    current_consents,
    open_duplicates,
    people_for,
    segment_counts,
)
from piazza.people.validation import clean_person_data
from piazza.territory.access import official_required
from piazza.territory.models import Level, Territory
from piazza.territory.scoping import scope_paths

PAGE_SIZE = 50


def _errors_to_form(form: Any, exc: ValidationError) -> None:
    if hasattr(exc, "error_dict"):
        for field, errors in exc.message_dict.items():
            form.add_error(field if field in form.fields else None, errors)
    else:
        form.add_error(None, exc.messages)


@official_required(roles=READ_ROLES)
@shows_personal_data("people.view_list")
def person_list(request: HttpRequest) -> HttpResponse:
    paths = scope_paths(request.user, READ_ROLES)
    form = SearchForm(request.GET or None, paths=paths)
    definition = form.definition() if request.GET else {}
    people = people_for(request.user, definition).select_related("territory", "residence_comune")
    page = CappedPaginator(people, PAGE_SIZE).get_page(request.GET.get("page"))
    note_access(ids=[p.pk for p in page], definition=definition)
    return render(
        request,
        "people/person_list.html",
        {
            "form": form,
            "page": page,
            "definition": definition,
            "query": request.GET.urlencode(),
            "segments": Segment.objects.visible_to(request.user, roles=READ_ROLES),
            "segment_form": SegmentForm(),
            "export_form": ExportForm(paths=paths),
        },
    )


def _person_or_404(request: HttpRequest, pk: int, roles: Any) -> Person:
    person = get_object_or_404(Person.objects.visible_to(request.user, roles=roles), pk=pk)
    return person


@official_required(roles=READ_ROLES)
@shows_personal_data("people.view_person")
def person_detail(request: HttpRequest, pk: int) -> HttpResponse:
    person = _person_or_404(request, pk, READ_ROLES)
    if person.merged_into_id:
        messages.info(request, _("La scheda n. %(id)d è stata unita a questa.") % {"id": person.pk})
        return redirect("people:detail", pk=person.merged_into_id)
    note_access(obj=person, territory=person.territory)
    person = (
        Person.objects.prefetch_related("emails", "phones", "tags")
        .select_related("territory", "residence_comune", "birth_comune", "voting_circolo")
        .get(pk=person.pk)
    )
    from piazza.people.models import Purpose

    return render(
        request,
        "people/person_detail.html",
        {
            "person": person,
            "timeline": person.timeline.select_related("actor")[:200],
            "consents": current_consents(person),
            "permissions": [(p.label, contact_permission(person, p.value)) for p in Purpose],
            "consent_form": ConsentForm(),
            "can_write": bool(scope_paths(request.user, WRITE_ROLES)),
        },
    )


@official_required(roles=WRITE_ROLES)
@shows_personal_data("people.view_person_form")
def person_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    paths = scope_paths(request.user, WRITE_ROLES)
    person = _person_or_404(request, pk, WRITE_ROLES) if pk else None
    initial: dict[str, Any] = {}
    if person is not None:
        note_access(obj=person, territory=person.territory)
        initial = {
            f: getattr(person, f) or ""
            for f in (
                "first_name",
                "last_name",
                "sex",
                "birth_country",
                "codice_fiscale",
                "residence_street",
                "residence_cap",
                "domicile_street",
                "domicile_cap",
                "citizenship",
                "notes",
            )
        }
        initial["birth_date"] = person.birth_date.strftime("%d/%m/%Y") if person.birth_date else ""
        for name in ("birth_comune", "residence_comune", "domicile_comune"):
            comune = getattr(person, name)
            initial[name] = comune.istat_code if comune else ""
        initial["tags"] = ", ".join(person.tags.values_list("name", flat=True))
        initial["voting_circolo"] = person.voting_circolo_id
        if person.territory.level == Level.CIRCOLO:
            initial["circolo"] = person.territory_id
    form = PersonForm(request.POST or None, initial=initial, paths=paths)
    if request.method == "POST" and form.is_valid():
        voting = form.cleaned_data["voting_circolo"]
        try:
            if person is None:
                person = person_actions.create_person(
                    actor=request.user,
                    data={**form.data_for_action(), "tags": form.tag_names()},
                    circolo=form.cleaned_data["circolo"],
                    after_erasure=form.cleaned_data["new_consent_after_erasure"],
                )
                if voting is not None:
                    person = person_actions.update_person(
                        actor=request.user, person=person, data={}, voting_circolo=voting
                    )
            else:
                unchanged_voting = (voting is None and person.voting_circolo_id is None) or (
                    voting is not None and voting.pk == person.voting_circolo_id
                )
                person = person_actions.update_person(
                    actor=request.user,
                    person=person,
                    data=form.data_for_action(),
                    circolo=form.cleaned_data["circolo"],
                    voting_circolo=False if unchanged_voting else voting,
                )
                if sorted(person.tags.values_list("name", flat=True)) != form.tag_names():
                    person_actions.set_tags(actor=request.user, person=person, names=form.tag_names())
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, _("Scheda salvata."))
            return redirect("people:detail", pk=person.pk)
    return render(request, "people/person_form.html", {"form": form, "person": person})


@official_required(roles=WRITE_ROLES)
@require_POST
def person_consent(request: HttpRequest, pk: int) -> HttpResponse:
    person = _person_or_404(request, pk, WRITE_ROLES)
    form = ConsentForm(request.POST)
    if form.is_valid():
        action = consent_actions.record_consent if form.cleaned_data["granted"] else consent_actions.withdraw_consent
        try:
            action(
                actor=request.user,
                person=person,
                purpose=form.cleaned_data["purpose"],
                channel=form.cleaned_data["channel"],
                text_version=form.cleaned_data["text_version"],
                evidence=form.cleaned_data["evidence"],
            )
            messages.success(request, _("Consenso registrato."))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
    return redirect("people:detail", pk=person.pk)


@official_required(roles=READ_ROLES)
@export_view("people.export_people")
def export(request: HttpRequest) -> HttpResponse:
    paths = scope_paths(request.user, READ_ROLES)
    search = SearchForm(request.GET or None, paths=paths)
    definition = search.definition() if request.GET else {}
    form = ExportForm(request.POST or None, paths=paths)
    if request.method == "POST" and form.is_valid():
        try:
            exported = exports_actions.export_people(
                actor=request.user,
                definition=definition,
                purpose=form.cleaned_data["purpose"],
                file_format=form.cleaned_data["file_format"],
                scope=form.cleaned_data.get("scope"),
            )
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            return as_response(exported)
    queryset = people_for(request.user, definition)
    with reading_stale("exports") as stale:  # the file reads as stale as this count (write_export)
        count = queryset.count()
    return render(
        request,
        "people/export.html",
        {"form": form, "count": count, "query": request.GET.urlencode(), "stale": stale},
    )


# --- Segments ---


@official_required(roles=READ_ROLES)
def segment_list(request: HttpRequest) -> HttpResponse:
    segments = list(Segment.objects.visible_to(request.user, roles=READ_ROLES).select_related("territory"))
    counts, stale = segment_counts(request.user, [s.definition for s in segments])
    rows = list(zip(segments, counts, strict=True))
    return render(request, "people/segment_list.html", {"rows": rows, "stale": stale})


@official_required(roles=WRITE_ROLES)
@require_POST
def segment_save(request: HttpRequest) -> HttpResponse:
    paths = scope_paths(request.user, WRITE_ROLES)
    search = SearchForm(request.GET, paths=paths)
    form = SegmentForm(request.POST)

    territory = Territory.objects.get(path=paths[0])
    try:
        name = form.data.get("name", "")
        segments_actions.save_segment(
            actor=request.user, name=str(name), territory=territory, definition=search.definition()
        )
        messages.success(request, _("Segmento salvato."))
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("people:segments")


def _segment_or_404(request: HttpRequest, pk: int) -> Segment:
    return get_object_or_404(Segment.objects.visible_to(request.user, roles=WRITE_ROLES), pk=pk)


@official_required(roles=WRITE_ROLES)
def segment_edit(request: HttpRequest, pk: int | None = None) -> HttpResponse:
    """The segment builder: filters, a live count (htmx, `segment_preview`), save."""
    paths = scope_paths(request.user, WRITE_ROLES)
    segment = _segment_or_404(request, pk) if pk else None
    initial = SegmentBuilderForm.initial_for(segment) if segment else {"owner": _default_owner(paths)}
    form = SegmentBuilderForm(request.POST or None, initial=initial, paths=paths)
    if request.method == "POST" and form.is_valid():
        try:
            segment = segments_actions.save_segment(
                actor=request.user,
                name=form.cleaned_data["name"],
                territory=form.cleaned_data["owner"],
                definition=form.definition(),
                segment=segment,
            )
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            messages.success(request, _("Segmento salvato."))
            return redirect("people:segments")
    definition = (
        segment.definition
        if segment and request.method != "POST"
        else (form.definition() if form.is_bound and form.is_valid() else {})
    )
    counts, stale = segment_counts(request.user, [definition])
    return render(
        request, "people/segment_form.html", {"form": form, "segment": segment, "count": counts[0], "stale": stale}
    )


def _default_owner(paths: list[str]) -> int | None:
    node = Territory.objects.filter(path__in=paths).order_by("path").first()
    return node.pk if node else None


@official_required(roles=READ_ROLES)
def segment_preview(request: HttpRequest) -> HttpResponse:
    """The live count of the builder's current filters (htmx fragment), inside the viewer's scope."""
    form = SearchForm(request.GET, paths=scope_paths(request.user, READ_ROLES))
    if not form.is_valid():
        return HttpResponse(
            escape(
                _("Controlla i filtri: %(errors)s")
                % {"errors": " ".join(str(m) for msgs in form.errors.values() for m in msgs)}
            )
        )
    counts, stale = segment_counts(request.user, [form.definition()])
    return render(request, "people/_segment_count.html", {"count": counts[0], "stale": stale})


@official_required(roles=WRITE_ROLES)
@require_POST
def segment_delete(request: HttpRequest, pk: int) -> HttpResponse:
    segment = _segment_or_404(request, pk)
    try:
        segments_actions.delete_segment(actor=request.user, segment=segment)
        messages.success(request, _("Segmento «%(name)s» eliminato.") % {"name": segment.name})
    except ValidationError as exc:
        messages.error(request, " ".join(exc.messages))
    return redirect("people:segments")


@official_required(roles=READ_ROLES)
def segment_count(request: HttpRequest, pk: int) -> HttpResponse:
    """The live count of a segment (htmx fragment): "1.234", or "più di 10.000" above the cap."""
    segment = get_object_or_404(Segment.objects.visible_to(request.user, roles=READ_ROLES), pk=pk)
    counts, _stale = segment_counts(request.user, [segment.definition])
    return HttpResponse(escape(count_in_words(counts[0])))


# --- Duplicates and merge ---


@official_required(roles=WRITE_ROLES)
@shows_personal_data("people.view_duplicates")
def duplicate_list(request: HttpRequest) -> HttpResponse:
    page = Paginator(open_duplicates(request.user), PAGE_SIZE).get_page(request.GET.get("page"))
    note_access(ids=[c.pk for c in page], people=sorted({i for c in page for i in (c.person_a_id, c.person_b_id)}))
    return render(request, "people/duplicate_list.html", {"page": page})


@official_required(roles=WRITE_ROLES)
@shows_personal_data("people.view_duplicate")
def duplicate_review(request: HttpRequest, pk: int) -> HttpResponse:
    candidate = get_object_or_404(open_duplicates(request.user), pk=pk)
    a, b = candidate.person_a, candidate.person_b
    note_access(obj=candidate, territory=a.territory, people=[a.pk, b.pk])
    fields = [
        "first_name",
        "last_name",
        "sex",
        "birth_date",
        "birth_comune",
        "codice_fiscale",
        "residence_street",
        "residence_cap",
        "residence_comune",
        "territory",
    ]
    rows: list[tuple[Any, str, Any, Any]] = [
        (getattr(Person._meta.get_field(f), "verbose_name", f), f, getattr(a, f), getattr(b, f)) for f in fields
    ]
    for label, attr in ((_("email"), "emails"), (_("telefoni"), "phones")):
        rows.append(
            (
                label,
                "",
                ", ".join(c.value for c in getattr(a, attr).all()),
                ", ".join(c.value for c in getattr(b, attr).all()),
            )
        )
    if request.method == "POST":
        try:
            if request.POST.get("decision") == "dismiss":
                duplicates_actions.dismiss_duplicate(actor=request.user, candidate=candidate)
                messages.success(request, _("Segnate come persone diverse."))
                return redirect("people:duplicates")
            survivor, merged = (a, b) if request.POST.get("keep") != "b" else (b, a)
            person = duplicates_actions.merge_people(actor=request.user, survivor=survivor, merged=merged)
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Schede unite: trovi l'unione nella cronologia."))
            return redirect("people:detail", pk=person.pk)
    return render(request, "people/duplicate_review.html", {"candidate": candidate, "rows": rows, "a": a, "b": b})


# --- Import wizard ---


def _batch_or_404(request: HttpRequest, pk: int) -> ImportBatch:
    return get_object_or_404(ImportBatch.objects.visible_to(request.user, roles=WRITE_ROLES), pk=pk)


@official_required(roles=WRITE_ROLES)
def import_upload(request: HttpRequest) -> HttpResponse:
    paths = scope_paths(request.user, WRITE_ROLES)
    form = UploadForm(request.POST or None, request.FILES or None, paths=paths)
    if request.method == "POST" and form.is_valid():
        upload = form.cleaned_data["file"]
        from piazza.people.imports import max_bytes

        if upload.size > max_bytes():
            form.add_error(
                "file",
                _(
                    "Il file pesa %(size)d MB, oltre il limite di %(limit)d MB: dividilo in più "
                    "file e caricali uno alla volta."
                )
                % {"size": upload.size // 2**20, "limit": max_bytes() // 2**20},
            )
        else:
            try:
                batch = imports_actions.start_import(
                    actor=request.user,
                    territory=form.cleaned_data["territory"],
                    file_name=upload.name,
                    content=upload.read(),
                )
            except ValidationError as exc:
                _errors_to_form(form, exc)
            else:
                return redirect("people:import_map", pk=batch.pk)
    batches = ImportBatch.objects.visible_to(request.user, roles=WRITE_ROLES)[:20]
    return render(request, "people/import_upload.html", {"form": form, "batches": batches})


@official_required(roles=WRITE_ROLES)
def import_map(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch_or_404(request, pk)
    mapping = dict(batch.mapping)
    saved = ImportMapping.objects.visible_to(request.user, roles=WRITE_ROLES)
    use = request.GET.get("mapping")
    if use:
        chosen = get_object_or_404(saved, pk=use)
        mapping = {str(i): chosen.mapping[h] for i, h in enumerate(batch.headers) if h in chosen.mapping}
    form = MappingForm(request.POST or None, headers=batch.headers, initial_mapping=mapping)
    if request.method == "POST" and form.is_valid():
        try:
            imports_actions.set_import_mapping(
                actor=request.user, batch=batch, mapping=form.mapping(), save_as=form.cleaned_data["save_as"]
            )
        except ValidationError as exc:
            _errors_to_form(form, exc)
        else:
            return redirect("people:import_target", pk=batch.pk)
    return render(
        request,
        "people/import_map.html",
        {"batch": batch, "form": form, "saved": saved, "repeat": imports_actions.repeat_warning(batch)},
    )


@official_required(roles=WRITE_ROLES)
def import_target(request: HttpRequest, pk: int) -> HttpResponse:
    """Step 3 (issue 11, item 13): people only, or what a higher app registered (e.g. the
    members of year Y, with the circolo chosen within the official's scope)."""
    batch = _batch_or_404(request, pk)
    if batch.status == BatchStatus.UPLOADED:
        return redirect("people:import_map", pk=batch.pk)
    data = request.POST if request.method == "POST" else None
    form = TargetForm(data, targets=[(t.key, t.label) for t in TARGETS.values()], initial={"target": batch.target})
    options = {key: t.options_form(data, actor=request.user, batch=batch, prefix=key) for key, t in TARGETS.items()}
    if request.method == "POST" and form.is_valid():
        key = form.cleaned_data["target"]
        target = get_target(key)
        sub = options.get(key)
        if target is None or (sub is not None and sub.is_valid()):
            try:
                chosen = target.check_options(sub, actor=request.user, batch=batch) if target and sub else {}
                imports_actions.set_import_target(actor=request.user, batch=batch, target=key, options=chosen)
            except ValidationError as exc:
                _errors_to_form(sub if sub is not None else form, exc)
            else:
                return redirect("people:import_preview", pk=batch.pk)
    return render(
        request,
        "people/import_target.html",
        {"batch": batch, "form": form, "targets": [(t, options[key]) for key, t in TARGETS.items()]},
    )


@official_required(roles=WRITE_ROLES)
@shows_personal_data("people.view_import_preview")
def import_preview(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch_or_404(request, pk)
    preview = []
    for row in batch.rows.order_by("number")[:20]:
        data, problem = row_to_data(row.raw, batch.mapping, len(batch.headers))
        cleaned = clean_person_data(data, flag_birth_date=True)
        errors = [problem] if problem else [m for msgs in cleaned.errors.values() for m in msgs]
        if not problem and cleaned.code_birth_date is not None:
            errors.append(
                _(
                    "Il codice fiscale dice nato/a il %(date)s: la riga sarà tenuta e messa tra i codici "
                    "fiscali da verificare."
                )
                % {"date": cleaned.code_birth_date.strftime("%d/%m/%Y")}
            )
        preview.append((row.number, data, errors))
    note_access(obj=batch, territory=batch.territory, rows=[number for number, _data, _errors in preview])
    confirm = ConfirmRunForm(request.POST if request.method == "POST" else None)
    if request.method == "POST" and confirm.is_valid():
        try:
            imports_actions.run_import(
                actor=request.user, batch=batch, confirm_repeat=confirm.cleaned_data["confirm_repeat"]
            )
        except ValidationError as exc:
            _errors_to_form(confirm, exc)
        else:
            return redirect("people:import_progress", pk=batch.pk)
    target = get_target(batch.target)
    return render(
        request,
        "people/import_preview.html",
        {
            "batch": batch,
            "preview": preview,
            "confirm": confirm,
            "repeat": imports_actions.repeat_warning(batch),
            "target": target.describe(batch.target_options) if target else "",
        },
    )


@official_required(roles=WRITE_ROLES)
def import_progress(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch_or_404(request, pk)
    if batch.status in (BatchStatus.DONE, BatchStatus.CLOSED):
        if request.headers.get("HX-Request"):
            response = HttpResponse()
            response["HX-Redirect"] = f"/persone/importa/{batch.pk}/rapporto/"
            return response
        return redirect("people:import_report", pk=batch.pk)
    template = "people/_import_progress.html" if request.headers.get("HX-Request") else "people/import_progress.html"
    return render(request, template, {"batch": batch})


@official_required(roles=WRITE_ROLES)
@shows_personal_data("people.view_import_report")
def import_report(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch_or_404(request, pk)
    if batch.status not in (BatchStatus.DONE, BatchStatus.CLOSED):
        return redirect("people:import_progress", pk=batch.pk)
    if request.method == "POST" and request.POST.get("close"):
        try:
            imports_actions.close_import_batch(actor=request.user, batch=batch)
            messages.success(request, _("Importazione chiusa: le righe di lavoro sono state eliminate."))
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        return redirect("people:import_report", pk=batch.pk)
    # Every row with something to say: rejected, flagged, matched to a person or an earlier row
    # (item 14), or with a target outcome (item 13). Plain new people are only counted.
    rows = batch.rows.exclude(status=RowStatus.CREATED, match_note="", target_outcome="", errors=[]).order_by("number")[
        :500
    ]
    note_access(obj=batch, territory=batch.territory, rows=[r.number for r in rows])
    target = get_target(batch.target)
    return render(
        request,
        "people/import_report.html",
        {
            "batch": batch,
            "rows": rows,
            "labels": dict(RowStatus.choices),
            "target": target.describe(batch.target_options) if target else "",
            "target_counts": dict(
                batch.rows.exclude(target_outcome="").values_list("target_outcome").annotate(n=Count("id")).order_by()
            )
            if target
            else {},
        },
    )


@official_required(roles=WRITE_ROLES)
@export_view("people.export_rejected_rows")
def import_rejected_csv(request: HttpRequest, pk: int) -> HttpResponse:
    batch = _batch_or_404(request, pk)
    if batch.status == BatchStatus.CLOSED:
        raise Http404
    return as_response(imports_actions.export_rejected_rows(actor=request.user, batch=batch))


# --- Codes that disagree with the birth date (issue 11, item 14) ---------------------------


@official_required(roles=WRITE_ROLES)
@shows_personal_data("people.view_code_date_reviews")
def code_date_reviews(request: HttpRequest) -> HttpResponse:
    """The queue of imported people whose codice fiscale says another birth date (rule D1)."""
    show_closed = request.GET.get("chiuse") == "1"
    qs = CodeDateReview.objects.visible_to(request.user, roles=WRITE_ROLES).select_related(
        "person", "person__territory", "resolved_by"
    )
    qs = qs.exclude(status=ReviewStatus.OPEN) if show_closed else qs.filter(status=ReviewStatus.OPEN)
    reviews = list(qs.order_by("-resolved_at", "created_at", "id")[:300] if show_closed else qs[:300])
    note_access(ids=[r.pk for r in reviews], count=len(reviews))
    return render(
        request,
        "people/code_date_reviews.html",
        {"reviews": reviews, "form": ResolveCodeDateForm(), "show_closed": show_closed},
    )


@require_POST
@official_required(roles=WRITE_ROLES)
def code_date_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    review = get_object_or_404(
        CodeDateReview.objects.visible_to(request.user, roles=WRITE_ROLES).select_related(
            "person", "person__territory"
        ),
        pk=pk,
    )
    form = ResolveCodeDateForm(request.POST)
    if form.is_valid():
        try:
            imports_actions.resolve_code_date(
                actor=request.user,
                review=review,
                resolution=form.cleaned_data["resolution"],
                note=form.cleaned_data["note"],
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Verifica chiusa per %(name)s.") % {"name": review.person})
    else:
        messages.error(request, _("Scegli una delle tre soluzioni."))
    return redirect("people:code_date_reviews")


# --- Requests from officials of other territories (issue 10, rule G1) ---------------------


@official_required(roles=WRITE_ROLES)
@shows_personal_data("people.view_requests")
def request_list(request: HttpRequest) -> HttpResponse:
    """What officials of other territories typed about people of this one: a new record, a
    code, a desk registration. They saw nothing of the person; here the person's own officials
    decide and close each request."""
    requests = list(
        ScopeRequest.objects.visible_to(request.user, roles=WRITE_ROLES).select_related(
            "person", "from_territory", "requested_by", "decided_by"
        )[:300]
    )
    note_access(ids=[r.pk for r in requests], count=len(requests))
    return render(request, "people/request_list.html", {"requests": requests, "form": CloseRequestForm()})


@require_POST
@official_required(roles=WRITE_ROLES)
def request_close(request: HttpRequest, pk: int) -> HttpResponse:
    found = get_object_or_404(ScopeRequest.objects.visible_to(request.user, roles=WRITE_ROLES), pk=pk)
    form = CloseRequestForm(request.POST)
    if form.is_valid():
        try:
            scope_actions.close_request(
                actor=request.user,
                request=found,
                done=form.cleaned_data["outcome"] == "done",
                note=form.cleaned_data["note"],
            )
        except ValidationError as exc:
            messages.error(request, " ".join(exc.messages))
        else:
            messages.success(request, _("Richiesta chiusa."))
    else:
        messages.error(request, _("Scegli l'esito e scrivi una nota."))
    return redirect("people:requests")
