"""Operations check: enqueue a heartbeat and wait until a worker has written it."""

import time
import uuid
from typing import Any

from django.core.management.base import BaseCommand, CommandError

from piazza.core.models import AuditEntry
from piazza.core.tasks import worker_heartbeat


class Command(BaseCommand):
    help = "Enqueue a heartbeat task and wait for a running worker to process it."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--timeout", type=int, default=30)

    def handle(self, *args: Any, **options: Any) -> None:
        label = uuid.uuid4().hex
        worker_heartbeat.enqueue(label)
        deadline = time.monotonic() + options["timeout"]
        while time.monotonic() < deadline:
            if AuditEntry.objects.filter(action="system.worker_heartbeat", data__label=label).exists():
                self.stdout.write(self.style.SUCCESS("Il worker risponde / the worker is running."))
                return
            time.sleep(0.5)
        raise CommandError(
            f"Nessun worker ha eseguito il task entro {options['timeout']}s: avvia `manage.py worker`. / "
            "No worker ran the task in time: start `manage.py worker`."
        )
