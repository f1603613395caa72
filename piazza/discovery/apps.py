from django.apps import AppConfig


class DiscoveryConfig(AppConfig):
    """ "Vicino a me" and the followers' digest (issue 17): reads campaigns, events, petitions, circoli,
    follows and the outreach rules, so it sits above all of them and owns no table."""

    name = "piazza.discovery"
    label = "discovery"
