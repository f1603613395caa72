"""`manage.py build_email_layout [--check]`: compile layout/broadcast.mjml into layout/broadcast.html."""

from __future__ import annotations

from typing import Any

from django.core.management.base import BaseCommand, CommandError, CommandParser

from piazza.outreach.layout_build import COMPILED, compile_layout, write_layout


class Command(BaseCommand):
    help = "Compile the broadcast MJML layout into the committed HTML."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--check", action="store_true", help="Fail if the committed HTML is out of date.")

    def handle(self, *args: Any, **options: Any) -> None:
        if options["check"]:
            if COMPILED.read_text() != compile_layout():
                raise CommandError("layout/broadcast.html is out of date: run manage.py build_email_layout")
            self.stdout.write("up to date")
            return
        self.stdout.write(str(write_layout()))
