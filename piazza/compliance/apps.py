from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ComplianceConfig(AppConfig):
    name = "piazza.compliance"
    label = "compliance"

    def ready(self) -> None:
        """Plug-in points only: the ledger kind candidate expenses are owed on (rules F10, F11)."""
        from piazza.compliance.candidates import EXPENSES_KEY, EXPENSES_KIND
        from piazza.ledger.kinds import register_key_label, register_kind

        register_kind(EXPENSES_KIND, _("Spese elettorali da pagare"), "credit",
                      _("Spese di un candidato registrate sul conto del mandatario, da pagare ai fornitori."))
        register_key_label(EXPENSES_KEY, _("spese elettorali"))
