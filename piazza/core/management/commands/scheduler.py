"""Enqueue periodic tasks when due (settings.PERIODIC_TASKS), and on RQ put back the jobs of dead
workers (ADR 0036); run beside `manage.py worker`."""

import time
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand

from piazza.core.periodic import enqueue_due


class Command(BaseCommand):
    help = "Enqueue the periodic tasks that are due, every 30 seconds (or once with --once, e.g. from cron)."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="Enqueue what is due now and exit.")
        parser.add_argument("--interval", type=int, default=30)

    def handle(self, *args: Any, **options: Any) -> None:
        while True:
            for name in enqueue_due():
                self.stdout.write(f"accodato / enqueued: {name}")
            if str(settings.TASKS["default"]["BACKEND"]).endswith("RQBackend"):
                from piazza.core.tasks_recovery import requeue_abandoned_everywhere

                for job_id in requeue_abandoned_everywhere():
                    self.stdout.write(f"rimesso in coda (worker morto) / requeued after its worker died: {job_id}")
            if options["once"]:
                return
            time.sleep(options["interval"])
