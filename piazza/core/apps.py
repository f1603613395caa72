from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "piazza.core"
    label = "core"
