"""The privacy app's own handler (rule G5): the person's data-subject requests and exports.
See `piazza.people.personal_data` for the shape."""

from __future__ import annotations

from typing import Any

from django.db import models

from piazza.core.data_export import rows
from piazza.privacy.models import AddressLink, DataExport, DataRequest

SECTION = "privacy"

PERSONAL_FIELDS: dict[type[models.Model], list[str]] = {
    DataRequest: ["person", "email", "notes", "extension_reason"],
    DataExport: ["json_file", "pdf_file"],
    AddressLink: ["email"],
}


def export(person: Any) -> dict[str, list[dict[str, Any]]]:
    requests = DataRequest.objects.filter(person=person).order_by("received_on", "id")
    return {
        "privacy.datarequest": rows(requests, exclude=["recorded_by"]),
        "privacy.dataexport": rows(
            DataExport.objects.filter(request__in=requests), exclude=["json_file", "pdf_file", "link_hash"]
        ),
        "privacy.addresslink": rows(
            AddressLink.objects.filter(
                email__in=[v.lower() for v in person.emails.values_list("value", flat=True)]
            ).order_by("created_at")
        ),
    }
