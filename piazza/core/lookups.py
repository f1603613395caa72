"""`field__any=values`: membership in a long list of plain values, sent as one array (ADR 0045).

Django's `__in` writes one placeholder per value and prepares each through the field, and
psycopg then splits the resulting statement text placeholder by placeholder: for the import's
lists of thousands of codes, dates, digests and ids (P6) that costs more CPU than PostgreSQL
spends answering. `col = ANY(%s)` with the list as a single array parameter is what PostgreSQL
turns `col IN (…)` into anyway (same plan, same indexes). Other databases get the plain `IN`.

Values must be plain (str, int, date), not expressions or querysets; None never matches (as
with `__in`).
"""

from __future__ import annotations

from typing import Any

from django.db.models import Field, ForeignObject, Lookup
from django.db.models.lookups import In


class AnyOf(Lookup):
    lookup_name = "any"
    prepare_rhs = False

    def get_prep_lookup(self) -> Any:
        return [value for value in dict.fromkeys(self.rhs) if value is not None]

    def as_sql(self, compiler: Any, connection: Any) -> tuple[str, Any]:
        return In(self.lhs, self.rhs).as_sql(compiler, connection)

    def as_postgresql(self, compiler: Any, connection: Any) -> tuple[str, Any]:
        lhs, params = self.process_lhs(compiler, connection)
        field = self.lhs.output_field
        values = [field.get_db_prep_value(value, connection, prepared=True) for value in self.rhs]
        return f"{lhs} = ANY(%s)", (*params, values)


Field.register_lookup(AnyOf)
ForeignObject.register_lookup(AnyOf)  # related fields look their lookups up apart (ids only)
