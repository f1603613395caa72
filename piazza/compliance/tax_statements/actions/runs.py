"""Starting and resuming a generation of the year's tax statements (national treasury or
administration, from the back office). The work itself is done by the worker (`tasks`)."""

from __future__ import annotations

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.compliance.models import TaxStatementRun, TaxStatementRunStatus
from piazza.compliance.tax_statements import tasks
from piazza.core.audit import Actor, record
from piazza.core.errors import Refused, refuse, refusing
from piazza.core.tasks import enqueue_on_commit
from piazza.territory.models import Level, Role, Territory
from piazza.territory.scoping import has_role_at

# Who starts a run (it writes statements for the whole party) and who sees statements in scope.
START_ROLES = frozenset({Role.TREASURY, Role.ADMINISTRATOR})
SEE_ROLES = frozenset({Role.TREASURY, Role.ADMINISTRATOR})
YEARS_BACK = 5  # statements can be (re)generated for the last five years


def years_open(today_year: int) -> list[int]:
    """The years a run may be started for, newest first (the current one included: a year closes
    on 31 December, but refunds may change it later)."""
    return list(range(today_year, today_year - YEARS_BACK - 1, -1))


def start_tax_statements(*, actor: Actor, year: int) -> TaxStatementRun:
    """Rules F7/F8: generate (or bring up to date) every donor's statement of `year`, in the background."""
    national = Territory.objects.get(level=Level.NATIONAL)
    if not has_role_at(actor, national, START_ROLES):
        refuse(
            "compliance.start_tax_statements",
            _("Le dichiarazioni per la detrazione le genera la tesoreria nazionale o l'amministrazione."),
            actor=actor,
            territory=national,
            code="not_national_treasury",
            permission=True,
        )
    allowed = years_open(timezone.localdate().year)
    if year not in allowed:
        refuse(
            "compliance.start_tax_statements",
            _("Scegli un anno tra il %(first)d e il %(last)d.") % {"first": allowed[-1], "last": allowed[0]},
            actor=actor,
            territory=national,
            code="year_out_of_range",
            field="year",
        )
    with refusing("compliance.start_tax_statements", actor, national), transaction.atomic():
        Territory.objects.select_for_update().filter(pk=national.pk).first()  # one start at a time
        if TaxStatementRun.objects.filter(year=year, finished_at__isnull=True).exists():
            raise Refused(
                _(
                    "Le dichiarazioni del %(year)d sono già in preparazione: segui l'avanzamento qui sotto "
                    "e riprova quando è finita."
                )
                % {"year": year},
                "run_in_progress",
                field="year",
            )
        run = TaxStatementRun.objects.create(year=year, territory=national, started_by_id=getattr(actor, "pk", None))
        record("compliance.start_tax_statements", actor=actor, obj=run, territory=national, data={"year": year})
        enqueue_on_commit(tasks.plan_tax_statements, run.pk, getattr(actor, "pk", None))
    return run


def resume_tax_statements(*, actor: Actor, run: TaxStatementRun) -> TaxStatementRun:
    """Queue again what a run has not done (a worker stopped, a chunk failed): done chunks are skipped."""
    if not has_role_at(actor, run.territory, START_ROLES):
        refuse(
            "compliance.resume_tax_statements",
            _("Le dichiarazioni per la detrazione le genera la tesoreria nazionale o l'amministrazione."),
            actor=actor,
            territory=run.territory,
            code="not_national_treasury",
            permission=True,
        )
    with refusing("compliance.resume_tax_statements", actor, run.territory), transaction.atomic():
        run = TaxStatementRun.objects.select_for_update().get(pk=run.pk)
        if run.status == TaxStatementRunStatus.DONE:
            raise Refused(_("Questa generazione è già completa: non c'è niente da riprendere."), "run_done")
        if run.finished:  # finished with errors: reopen it, the failed chunks run again
            run.status, run.finished_at = TaxStatementRunStatus.RUNNING, None
            run.save(update_fields=["status", "finished_at"])
        record(
            "compliance.resume_tax_statements",
            actor=actor,
            obj=run,
            territory=run.territory,
            data={"done": run.done, "failed": run.failed, "total": run.total},
        )
        enqueue_on_commit(tasks.plan_tax_statements, run.pk, getattr(actor, "pk", None))
    return run
