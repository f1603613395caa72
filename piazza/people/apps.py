from django.apps import AppConfig


class PeopleConfig(AppConfig):
    name = "piazza.people"
    label = "people"
