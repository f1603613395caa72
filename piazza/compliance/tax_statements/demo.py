"""Demo content (`seed_demo`, after funding's gifts): the statements of the current year generated
once, as the national treasury would from the back office, so «Dichiarazioni per la detrazione»
(back office) and Il mio spazio have something to show. Re-running adds nothing."""

from __future__ import annotations

from typing import Any

from django.utils import timezone

from piazza.compliance.models import TaxStatementRun
from piazza.compliance.tax_statements.actions import generate
from piazza.territory.models import Level, Territory


def seed(*, people: int, stdout: Any) -> None:
    national = Territory.objects.filter(level=Level.NATIONAL).first()
    year = timezone.localdate().year
    if national is None or TaxStatementRun.objects.filter(year=year).exists():
        return
    run = TaxStatementRun.objects.create(year=year, territory=national)
    # The worker's actions, inline (a fresh machine may have no worker running yet); no emails.
    for chunk_id in generate.plan_tax_statements(actor=None, run_id=run.pk):
        generate.generate_tax_statement_chunk(actor=None, chunk_id=chunk_id)
    run.refresh_from_db()
    stdout.write(f"Dichiarazioni per la detrazione {year}: {run.created} per {run.total} donatori.\n")
