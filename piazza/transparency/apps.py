from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class TransparencyConfig(AppConfig):
    """The public transparency portal (issue 13, rule G1): the party's money per territory and
    year, read from the ledger and the contribution lines, with open data. No models."""

    name = "piazza.transparency"
    label = "transparency"
    verbose_name = _("Trasparenza")
