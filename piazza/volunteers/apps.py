from django.apps import AppConfig


class VolunteersConfig(AppConfig):
    """Volunteer shifts, call lists and the ladder of engagement (issue 15)."""

    name = "piazza.volunteers"
    label = "volunteers"

    def ready(self) -> None:
        from piazza.volunteers import queries

        queries.register_engagement_relations()  # the segment builder's engagement conditions
