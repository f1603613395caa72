"""Small helpers shared by the apps' forms."""

from __future__ import annotations

from typing import Any

from django import forms


def preselect_only_choice(form: forms.BaseForm) -> None:
    """A choice with a single possible answer comes already chosen (issue 11 item 18): a donor
    whose campaign takes one-off gifts only, a treasurer with one account. A form that is bound,
    or a field with an initial value, is left as it is. A yes/no question is never touched: it
    has two answers."""
    if form.is_bound:
        return
    for name, field in form.fields.items():
        if not isinstance(field, forms.ChoiceField | forms.ModelChoiceField) or form.initial.get(name):
            continue
        if field.initial not in (None, ""):
            continue
        if isinstance(field, forms.ModelChoiceField):
            # Two rows at most: a national list of territories is never loaded for this.
            rows = list(field.queryset[:2]) if field.queryset is not None else []
            if len(rows) == 1:
                form.initial[name] = rows[0].pk
            continue
        choices: Any = field.choices
        values: list[Any] = [value for value, _label in choices if value not in ("", None)]
        if len(values) == 1:
            form.initial[name] = values[0]
