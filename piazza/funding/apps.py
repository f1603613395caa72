from django.apps import AppConfig


class FundingConfig(AppConfig):
    name = "piazza.funding"
    label = "funding"
