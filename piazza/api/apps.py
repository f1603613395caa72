from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "piazza.api"
    label = "api"
