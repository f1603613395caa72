from django.apps import AppConfig


class MembershipConfig(AppConfig):
    name = "piazza.membership"
    label = "membership"
