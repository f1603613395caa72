from django.apps import AppConfig


class ApiConfig(AppConfig):
    name = "piazza.api"
    label = "api"

    def ready(self) -> None:
        # Build the pydantic models of the API at start-up, never first inside a request: under the
        # tests' frozen clock `datetime.datetime` is freezegun's class, which pydantic cannot type.
        from piazza.api import v1  # noqa: F401
        from piazza.api.webhooks.emit import emit
        from piazza.core.outbound import listen

        listen(emit)  # the outgoing webhooks' outbox (issue 16)
