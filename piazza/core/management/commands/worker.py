"""One worker command for both task backends: the database queue or RQ on Redis."""

from typing import Any

from django.conf import settings
from django.core.management import call_command
from django.core.management.base import BaseCommand


class Command(BaseCommand):
    help = "Run the background task worker for the configured backend (database or Redis/RQ)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--burst", action="store_true", help="Exit when the queue is empty.")

    def handle(self, *args: Any, **options: Any) -> None:
        backend = str(settings.TASKS["default"]["BACKEND"])
        if backend.endswith("RQBackend"):
            self.stdout.write("Worker RQ su Redis / RQ worker on Redis")
            call_command(
                "rqworker",
                "default",
                job_class="django_tasks_rq.Job",
                # A job whose worker died is run again (issue 14, ADR 0036).
                worker_class="piazza.core.tasks_recovery.Worker",
                burst=options["burst"],
                with_scheduler=not options["burst"],
            )
        elif backend.endswith("DatabaseBackend"):
            self.stdout.write("Worker sulla coda del database / database queue worker")
            call_command("db_worker", batch=options["burst"], interval=1, startup_delay=not options["burst"])
        else:
            self.stdout.write("I task sono eseguiti subito (backend immediato): nessun worker serve.")
