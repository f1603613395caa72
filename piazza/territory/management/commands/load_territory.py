from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand, CommandParser

from piazza.territory.loading import ISTAT_FILE, load_territory


class Command(BaseCommand):
    help = (
        "Load or update the ISTAT list of comuni (rule D2) and build the national → federation tree. "
        "Never deletes a comune: merged ones keep their row, their end date and their successor."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument(
            "--file",
            type=Path,
            default=ISTAT_FILE,
            help="a list built by scripts/istat_list.py (default: the shipped one)",
        )
        parser.add_argument("--dry-run", action="store_true", help="say what would change, change nothing")

    def handle(self, *args: Any, **options: Any) -> None:
        report = load_territory(options["file"], dry_run=options["dry_run"])
        prefix = "Prova (nulla è stato scritto). " if options["dry_run"] else ""
        self.stdout.write(
            f"{prefix}Comuni nel file: {report.comuni_in_file} (nuovi {report.comuni_created}, "
            f"aggiornati {report.comuni_updated}, con nuovo codice ISTAT {report.comuni_recoded}, "
            f"confluiti in un altro comune {report.comuni_merged}); circoli estesi al comune successore: "
            f"{report.circoli_extended}; comuni in archivio assenti dal file (conservati): "
            f"{report.comuni_not_in_file}; unioni regionali: {report.regions}; federazioni: {report.federations}"
        )
