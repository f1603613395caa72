from typing import Any

from django.core.management.base import BaseCommand

from piazza.territory.loading import load_territory


class Command(BaseCommand):
    help = "Load the shipped ISTAT list of comuni and build the national → federation tree."

    def handle(self, *args: Any, **options: Any) -> None:
        report = load_territory()
        self.stdout.write(
            f"Comuni nel file: {report.comuni_in_file} (nuovi {report.comuni_created}, "
            f"aggiornati {report.comuni_updated}); unioni regionali: {report.regions}; "
            f"federazioni: {report.federations}"
        )
