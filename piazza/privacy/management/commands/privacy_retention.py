"""`manage.py privacy_retention [--dry-run]`: the retention schedule's report, or its application (G5)."""

from __future__ import annotations

import json
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from piazza.privacy.retention import apply_retention, retention_report


class Command(BaseCommand):
    help = "Rapporto (--dry-run) o applicazione del calendario di conservazione dei dati personali."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--dry-run", action="store_true", help="Mostra cosa verrebbe cancellato, senza cancellare.")

    def handle(self, *args: Any, **options: Any) -> None:
        report = retention_report() if options["dry_run"] else apply_retention()
        data = report.as_dict()
        title = "Rapporto (prova, nulla cancellato)" if options["dry_run"] else "Conservazione applicata"
        self.stdout.write(title)
        # First the erasures, as the privacy officer's board will show them (rule G5).
        self.stdout.write(f"  richieste di cancellazione (calendario di conservazione): {len(data['erasures'])}")
        for item in data["erasures"]:
            answers = (
                f"risponde alla richiesta n. {item['request']}" if item["request"] else "nuova richiesta sul registro"
            )
            self.stdout.write(f"    scheda n. {item['person']} ({item['territory']}): {answers}")
        self.stdout.write(f"  contatti inattivi da cancellare: {data['contacts']}")
        self.stdout.write(f"  righe di importazioni scadute: {data['import_rows']}")
        self.stdout.write(f"  link di accesso scaduti: {data['expired_links']}")
        self.stdout.write(json.dumps(data))
