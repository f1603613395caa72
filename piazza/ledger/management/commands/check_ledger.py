"""`manage.py check_ledger`: verify every ledger invariant; exit 1 with a readable list if any fails."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from piazza.ledger.checks import run_checks


class Command(BaseCommand):
    help = "Verifica gli invarianti della contabilità (partita doppia, pagamenti, rimborsi, saldi)."

    def handle(self, *args: Any, **options: Any) -> None:
        violations = run_checks()
        if not violations:
            self.stdout.write(self.style.SUCCESS("Contabilità in ordine: nessuna violazione."))
            return
        self.stderr.write(f"{len(violations)} violazioni trovate:")
        for violation in violations:
            self.stderr.write(f"  - {violation}")
        raise CommandError(f"check_ledger: {len(violations)} violazioni", returncode=1)
