from django.apps import AppConfig


class BankConfig(AppConfig):
    """Bank rails (SEPA direct debit, transfers, statements, payouts): a sub-app of payments.

    Its own app label keeps its migrations apart from the card providers' (ADR 0002).
    """

    name = "piazza.payments.bank"
    label = "bank"
