from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from piazza.api.models import Permission
from piazza.api.webhooks.actions import url_problem
from piazza.api.webhooks.models import Event
from piazza.territory.models import Territory

# A webhook only reads: the permissions that bound what it is sent.
READ_PERMISSIONS = [(value, label) for value, label in Permission.choices if value.endswith(":read")]


class SubscriptionForm(forms.Form):
    target_url = forms.CharField(
        label=_("Indirizzo di destinazione"),
        max_length=500,
        help_text=_("L'indirizzo https del programma che riceve gli eventi, per esempio https://esempio.it/webhook."),
        widget=forms.URLInput,
    )
    territory = forms.ModelChoiceField(
        label=_("Struttura"),
        queryset=Territory.objects.none(),
        help_text=_("Arrivano solo gli eventi di questa struttura e di quelle sotto, come li vede il tuo ruolo."),
    )
    events = forms.MultipleChoiceField(
        label=_("Eventi da ricevere"), choices=Event.choices, widget=forms.CheckboxSelectMultiple
    )
    permissions = forms.MultipleChoiceField(
        label=_("Permessi"),
        choices=READ_PERMISSIONS,
        widget=forms.CheckboxSelectMultiple,
        required=False,
        help_text=_(
            "Limitano i dati inviati. Senza «Leggere le persone» una persona arriva solo come collegamento, "
            "senza nome né contatti."
        ),
    )

    def __init__(self, *args: Any, territories: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["territory"].queryset = territories  # type: ignore[attr-defined]

    def clean_target_url(self) -> str:
        url = str(self.cleaned_data["target_url"]).strip()
        problem = url_problem(url)
        if problem:
            raise forms.ValidationError(problem, code="url")
        return url
