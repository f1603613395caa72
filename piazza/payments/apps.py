from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "piazza.payments"
    label = "payments"
    verbose_name = "Pagamenti"

    def ready(self) -> None:
        from piazza.ledger.checks import register_check
        from piazza.payments import checks

        register_check("payments_booked_once", checks.payments_booked_once)
        register_check("allocations_match_amounts", checks.allocations_match_amounts)
        register_check("refunds_reversed", checks.refunds_reversed)
        register_check("payments_never_over_reversed", checks.payments_never_over_reversed)
