from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "piazza.compliance"
    label = "compliance"

    def ready(self) -> None:
        """Plug-in point only: the startup check that every money-in channel counts toward F6."""
        from django.core import checks

        from piazza.compliance.checks import money_in_channels_have_sources

        checks.register(money_in_channels_have_sources, "compliance")
