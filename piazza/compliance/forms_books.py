"""Forms of the mandatario's books and of the 2×1000 (rules F9, F11)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from piazza.compliance.forms import DateInput
from piazza.core.money import MoneyFormField


class ProclamationForm(forms.Form):
    proclaimed_on = forms.DateField(label=_("Data della proclamazione degli eletti"), widget=DateInput())


class ReceiptForm(forms.Form):
    receipt = forms.FileField(label=_("Giustificativo (PDF, JPG o PNG, al massimo 10 MB)"))


class TwoPerThousandForm(forms.Form):
    year = forms.IntegerField(label=_("Anno d'imposta"))
    amount = MoneyFormField(label=_("Importo attribuito al partito (€)"))
    choices = forms.IntegerField(
        label=_("Numero di scelte"),
        min_value=1,
        required=False,
        help_text=_("Solo se pubblicato dall'Agenzia delle Entrate; mai i nomi di chi ha scelto."),
    )
    received_on = forms.DateField(label=_("Data di accredito"), widget=DateInput())
    note = forms.CharField(label=_("Nota (fonte, motivo della rettifica)"), max_length=300, required=False)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
