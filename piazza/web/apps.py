from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "piazza.web"
    label = "web"
