from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "piazza.payments"
    label = "payments"
    verbose_name = "Pagamenti"

    def ready(self) -> None:
        from piazza.ledger.checks import register_check
        from piazza.ledger.kinds import register_key_label
        from piazza.payments import checks
        from piazza.payments.providers.registry import all_providers

        for provider in all_providers():  # clearing and fee accounts are kept per circuit
            register_key_label(provider.identifier, provider.verbose_name)

        register_check("payments_booked_once", checks.payments_booked_once)
        register_check("allocations_match_amounts", checks.allocations_match_amounts)
        register_check("refunds_reversed", checks.refunds_reversed)
        register_check("payments_never_over_reversed", checks.payments_never_over_reversed)
