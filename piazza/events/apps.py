from django.apps import AppConfig


class EventsConfig(AppConfig):
    """Events with RSVP, waiting list, reminders, iCalendar and check-in at the door (issue 15)."""

    name = "piazza.events"
    label = "events"
