"""Forms of the data-rights pages (Italian first, wrapped for translation)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from piazza.privacy.models import RequestKind


class AddressForm(forms.Form):
    email = forms.EmailField(
        label=_("La tua email"),
        max_length=254,
        error_messages={
            "required": _("Scrivi l'indirizzo email con cui ci hai dato i tuoi dati."),
            "invalid": _("Questo indirizzo email non è valido: controllalo."),
        },
    )


class PaperRequestForm(forms.Form):
    kind = forms.ChoiceField(label=_("Tipo di richiesta"), choices=RequestKind.choices)
    received_on = forms.DateField(
        label=_("Ricevuta il"),
        widget=forms.DateInput(attrs={"type": "date"}),
        error_messages={
            "required": _("Indica il giorno in cui la richiesta è arrivata."),
            "invalid": _("Data non valida: usa il formato gg/mm/aaaa."),
        },
    )
    email = forms.ChoiceField(label=_("Email a cui consegnare la risposta"), required=False)
    notes = forms.CharField(
        label=_("Note (come è arrivata, riferimento della lettera)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )

    def __init__(self, *args: Any, emails: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        field = self.fields["email"]
        assert isinstance(field, forms.ChoiceField)
        field.choices = [("", _("— nessuna —")), *[(e, e) for e in emails]]


class ExtendForm(forms.Form):
    reason = forms.CharField(label=_("Motivo della proroga"), max_length=2000, widget=forms.Textarea(attrs={"rows": 2}))
