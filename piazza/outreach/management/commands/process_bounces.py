"""`manage.py process_bounces [MAILDIR] [--keep]`: read DSN bounce messages (RFC 3464) from a Maildir;
a permanent failure stops the address. Without MAILDIR, OUTREACH_BOUNCE_MAILDIR."""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandError, CommandParser

from piazza.outreach.tasks import process_maildir


class Command(BaseCommand):
    help = "Process the bounce mailbox (DSN messages): hard bounces stop the address."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("maildir", nargs="?", default="")
        parser.add_argument("--keep", action="store_true", help="Leave processed messages in the mailbox.")

    def handle(self, *args: Any, **options: Any) -> None:
        path = options["maildir"] or settings.OUTREACH_BOUNCE_MAILDIR
        if not path:
            raise CommandError("Give a Maildir or set OUTREACH_BOUNCE_MAILDIR.")
        counts = process_maildir(path, keep=options["keep"])
        self.stdout.write(f"{counts['messages']} messages, {counts['hard']} hard bounces, {counts['soft']} delays")
