from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "piazza.payments"
    label = "payments"
