from django.apps import AppConfig


class TerritoryConfig(AppConfig):
    name = "piazza.territory"
    label = "territory"
