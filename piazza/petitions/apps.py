from django.apps import AppConfig


class PetitionsConfig(AppConfig):
    """Petitions and sign-up forms: public pages, embeds, signatures, delivery (issue 15)."""

    name = "piazza.petitions"
    label = "petitions"
