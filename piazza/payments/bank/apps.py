from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class BankConfig(AppConfig):
    """Bank rails (SEPA direct debit, transfers, statements, payouts): a sub-app of payments.

    Its own app label keeps its migrations apart from the card providers' (ADR 0002).
    """

    name = "piazza.payments.bank"
    label = "bank"
    verbose_name = _("Banca")

    def ready(self) -> None:
        from piazza.ledger.kinds import register_kind

        register_kind(
            "bank_unallocated",
            _("Incassi bancari da attribuire"),
            "credit",
            _(
                "Denaro arrivato in banca oltre il dovuto (pagamenti in eccesso), in attesa di restituzione o "
                "attribuzione."
            ),
        )
        register_kind(
            "bank_short_payments",
            _("Differenze accettate su bonifici"),
            "debit",
            _("Quanto manca ai bonifici che la tesoreria ha deciso di accettare per un importo ridotto."),
        )
        register_kind(
            "bank_charges",
            _("Commissioni bancarie"),
            "debit",
            _("Spese e commissioni addebitate dalla banca."),
        )
        from piazza.ledger.kinds import register_key_label
        from piazza.payments.bank.providers import BankTransferProvider, SepaDirectDebitProvider
        from piazza.payments.providers.registry import register

        for provider in (register(BankTransferProvider()), register(SepaDirectDebitProvider())):
            register_key_label(provider.identifier, provider.verbose_name)
        register_kind(
            "payouts_approved",
            _("Versamenti approvati da eseguire"),
            "credit",
            _("Versamenti approvati con i quattro occhi, non ancora visti uscire in estratto conto."),
        )
