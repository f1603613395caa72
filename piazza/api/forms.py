from __future__ import annotations

import datetime as dt
from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from piazza.api.models import Permission
from piazza.territory.models import Territory


class ApiKeyForm(forms.Form):
    name = forms.CharField(
        label=_("Nome della chiave"), max_length=80, help_text=_("Per esempio lo strumento che la userà.")
    )
    territory = forms.ModelChoiceField(
        label=_("Struttura"),
        queryset=Territory.objects.none(),
        help_text=_("La chiave vede solo questa struttura e quelle sotto, come il tuo ruolo."),
    )
    permissions = forms.MultipleChoiceField(
        label=_("Permessi"), choices=Permission.choices, widget=forms.CheckboxSelectMultiple
    )
    expires_on = forms.DateField(label=_("Scadenza"), widget=forms.DateInput(attrs={"type": "date"}))

    def __init__(self, *args: Any, territories: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["territory"].queryset = territories  # type: ignore[attr-defined]
        self.fields["expires_on"].initial = timezone.localdate() + dt.timedelta(days=90)
