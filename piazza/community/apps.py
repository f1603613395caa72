from django.apps import AppConfig


class CommunityConfig(AppConfig):
    """ "Il mio spazio": each person's own page, opened by a one-time link (issue 12)."""

    name = "piazza.community"
    label = "community"
