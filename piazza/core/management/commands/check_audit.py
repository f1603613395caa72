"""`manage.py check_audit`: verify the audit chain; name the first broken link and exit 1."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError

from piazza.core.auditchain import last_verified_head, verify_chain


class Command(BaseCommand):
    help = (
        "Verifica la catena del registro attività: riporta la prima voce mancante, modificata "
        "o firmata con una chiave sbagliata (id, ora, problema) ed esce con codice 1."
    )

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--database", default="default")
        parser.add_argument(
            "--expect-head",
            metavar="SEQ",
            help="anello che la catena deve almeno raggiungere (da un controllo precedente "
            "annotato fuori dal server); altrimenti quello ricordato nella cache",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        known = last_verified_head()
        if options["expect_head"]:
            known = (int(options["expect_head"]), "")
        report = verify_chain(using=options["database"], known_head=known)
        if report.broken is None:
            self.stdout.write(
                self.style.SUCCESS(
                    f"Registro attività integro: {report.checked} voci in catena "
                    f"(ultimo anello {report.head_seq or 0}, impronta {report.head_digest[:16] or '—'}), "
                    f"{report.unchained} voci precedenti alla catena verificate una per una."
                )
            )
            return
        broken = report.broken
        self.stderr.write(f"Catena del registro attività interrotta ({broken.problem}):")
        self.stderr.write(f"  {broken.describe()}")
        raise CommandError(
            f"check_audit: {broken.problem} alla voce {broken.entry_id or '—'} (anello {broken.seq})",
            returncode=1,
        )
