from django.apps import AppConfig


class OutreachConfig(AppConfig):
    """Email broadcasts to segments (issue 15): audience under G2/G3, sending, unsubscribe, bounces."""

    name = "piazza.outreach"
    label = "outreach"
