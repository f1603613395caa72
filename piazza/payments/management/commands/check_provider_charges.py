"""`manage.py check_provider_charges`: every successful charge the providers hold is in the ledger.

Exit 1 with a readable list when a charge is missing (issue 10, finding 7). Read-only: it never
books or refunds anything (the periodic `reconcile_provider_charges` does that).
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser
from django.utils import timezone

from piazza.payments.checks import provider_charges_in_ledger


class Command(BaseCommand):
    help = "Confronta gli addebiti riusciti presso i circuiti con la contabilità e segnala quelli mancanti."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--hours", type=int, default=72, help="Quante ore indietro guardare (72).")
        parser.add_argument(
            "--grace-minutes",
            type=int,
            default=30,
            help="Ignora gli addebiti più recenti di così, forse ancora in corso (30).",
        )
        parser.add_argument("--provider", action="append", dest="providers", help="Solo questo circuito.")

    def handle(self, *args: Any, **options: Any) -> None:
        now = timezone.now()
        violations = provider_charges_in_ledger(
            since=now - timedelta(hours=options["hours"]),
            until=now - timedelta(minutes=options["grace_minutes"]),
            providers=options["providers"],
        )
        if not violations:
            self.stdout.write(self.style.SUCCESS("Ogni addebito dei circuiti è in contabilità."))
            return
        self.stderr.write(f"{len(violations)} addebiti non in contabilità:")
        for violation in violations:
            self.stderr.write(f"  - {violation}")
        raise CommandError(f"check_provider_charges: {len(violations)} addebiti mancanti", returncode=1)
