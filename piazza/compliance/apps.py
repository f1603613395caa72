from django.apps import AppConfig


class ComplianceConfig(AppConfig):
    name = "piazza.compliance"
    label = "compliance"
