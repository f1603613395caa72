from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "piazza.core"
    label = "core"

    def ready(self) -> None:
        from piazza.core import lookups  # noqa: F401 (registers `__any`)
