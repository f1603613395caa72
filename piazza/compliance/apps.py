from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ComplianceConfig(AppConfig):
    name = "piazza.compliance"
    label = "compliance"

    def ready(self) -> None:
        """Plug-in points only: the ledger kind candidate expenses are owed on (rules F10, F11), and the
        startup check that every money-in channel counts toward F6."""
        from django.core import checks

        from piazza.compliance.candidates import EXPENSES_KEY, EXPENSES_KIND
        from piazza.compliance.checks import money_in_channels_have_sources
        from piazza.compliance.contributions import register_line_source
        from piazza.compliance.register.in_kind import in_kind_in_year, in_kind_in_year_query, in_kind_lines
        from piazza.compliance.rules import register_contribution_source
        from piazza.ledger.kinds import register_key_label, register_kind

        register_kind(
            EXPENSES_KIND,
            _("Spese elettorali da pagare"),
            "credit",
            _("Spese di un candidato registrate sul conto del mandatario, da pagare ai fornitori."),
        )
        register_key_label(EXPENSES_KEY, _("spese elettorali"))
        # Rule F9: the 2×1000, booked as income of the national level (compliance.twoxthousand).
        register_kind(
            "two_per_thousand_receivable",
            _("2×1000 da incassare"),
            "debit",
            _("Somme del 2×1000 attribuite al partito, da incassare dallo Stato."),
        )
        register_key_label("two_per_thousand", _("2×1000"))
        checks.register(money_in_channels_have_sources, "compliance")
        # Rules F1, F6: services in kind count toward the register and the cap (never traceable, F8).
        register_line_source("compliance.in_kind", in_kind_lines)
        register_contribution_source(
            "compliance.in_kind", "donation", in_kind_in_year, payables=[], query=in_kind_in_year_query
        )
