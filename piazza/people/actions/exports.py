"""Exports of people."""

from __future__ import annotations

from typing import Any

from django.utils.translation import gettext as _

from piazza.core.errors import refuse
from piazza.core.exports import ExportFile, write_export
from piazza.people.exports import EXPORT_COLUMNS, export_rows
from piazza.people.models import (
    READ_ROLES,
)
from piazza.people.queries import people_for
from piazza.territory.models import Territory
from piazza.territory.scoping import scope_paths

# --- Export -------------------------------------------------------------------------------------


def export_people(
    *,
    actor: Any,
    definition: dict[str, Any],
    purpose: str,
    file_format: str = "csv",
    scope: Territory | None = None,
) -> ExportFile:
    """Export the people matching `definition` inside the actor's scope, purpose declared and
    logged as EXPORT (rule G4), through the one export writer (convention 17: every cell that
    a spreadsheet would evaluate is escaped).

    An official with several scope nodes (say two circoli) names the one the export is for with
    `scope`; it must be one of their nodes or below one, and the audit entry is filed under it."""
    if len(purpose.strip()) < 10:
        refuse(
            "people.export_people",
            _("Scrivi per cosa ti serve l'esportazione (almeno qualche parola): resta nel registro attività."),
            actor=actor,
            field="purpose",
        )
    if file_format not in ("csv", "xlsx"):
        refuse("people.export_people", _("Formato non previsto: scegli CSV o XLSX."), actor=actor, field="file_format")
    paths = scope_paths(actor, READ_ROLES)
    queryset = people_for(actor, definition)
    if scope is not None:
        if not any(scope.path.startswith(p) for p in paths):
            refuse(
                "people.export_people",
                _("Puoi esportare solo dal tuo territorio: scegli uno dei tuoi ambiti."),
                actor=actor,
                territory=scope,
                code="out_of_scope",
                field="scope",
            )
        queryset = queryset.filter(territory__path__startswith=scope.path)
    territory = scope or (Territory.objects.filter(path=paths[0]).first() if len(paths) == 1 else None)
    return write_export(
        "people.export_people",
        actor=actor,
        file_format=file_format,
        filename="persone",
        header=EXPORT_COLUMNS,
        rows=export_rows(queryset),
        territory=territory,
        sheet_title="Persone",
        data={"purpose": purpose.strip(), "definition": definition},
        stale_reads=True,  # a list of people as they were a few minutes ago at most (issue 14)
    )
