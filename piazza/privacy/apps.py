from django.apps import AppConfig


class PrivacyConfig(AppConfig):
    name = "piazza.privacy"
    label = "privacy"
