from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class FundingConfig(AppConfig):
    name = "piazza.funding"
    label = "funding"

    def ready(self) -> None:
        """Plug-in points only (convention 2): the payable handler, the F6 source, a ledger check."""
        from piazza.compliance.candidates import register_candidacy_donor_source
        from piazza.compliance.contributions import register_line_source, register_row_source
        from piazza.compliance.rules import register_contribution_source, register_entity_source
        from piazza.funding import payable
        from piazza.ledger.checks import register_check
        from piazza.ledger.kinds import register_key_label

        register_key_label("gifts", _("donazioni"))
        register_key_label("matched", _("raddoppio ricevuto"))
        register_key_label("match_reserved", _("raddoppio promesso"))

        register_contribution_source(
            "funding.donations",
            "donation",
            payable.donations_in_year,
            payables=["funding.donation"],
            query=payable.donations_in_year_query,
        )
        register_entity_source("funding.donations", payable.entity_donations_in_year)  # rule F13
        register_line_source("funding.donations", payable.donation_lines)
        register_row_source("funding.donation", payable.donation_row_lines)
        register_candidacy_donor_source("funding.donations", payable.donors_of_candidacy)
        register_check("funding counters equal the ledger", "piazza.funding.payable.counters_match_ledger")
        from piazza.payments.payables import register_payable

        register_payable("funding.donation", payable.DonationHandler())
