from django.apps import AppConfig


class LedgerConfig(AppConfig):
    name = "piazza.ledger"
    label = "ledger"
