"""Back-office forms of the donor register: services in kind, election periods, publication."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from piazza.compliance.forms import DateInput
from piazza.compliance.models import ElectionPeriodKind
from piazza.core.money import MoneyFormField


class InKindForm(forms.Form):
    territory: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        label=_("Struttura che lo riceve"),
        queryset=None,
        error_messages={"invalid_choice": _("Scegli una struttura del tuo ambito di tesoreria.")},
    )
    codice_fiscale = forms.CharField(
        label=_("Codice fiscale di chi dona"),
        max_length=16,
        help_text=_("La persona deve essere già in anagrafica (Persone) nel tuo territorio."),
    )
    description = forms.CharField(label=_("Descrizione del bene o servizio"), max_length=300)
    value = MoneyFormField(label=_("Valore (€)"), help_text=_("Il valore di mercato, come risulta dal documento."))
    received_on = forms.DateField(label=_("Data in cui è stato ricevuto"), widget=DateInput())
    evidence = forms.FileField(
        label=_("Documento che prova il valore (PDF, JPG o PNG, al massimo 10 MB)"),
        help_text=_("Fattura, preventivo o perizia: resta riservato, solo la tesoreria lo può aprire."),
    )
    publication_accepted = forms.BooleanField(
        label=_("La persona non si oppone alla pubblicazione del nome"),
        required=False,
        help_text=_(
            "Sopra 500 € in un anno il nome va nel registro pubblico: chi si oppone non può dare di più "
            "(la soglia è un parametro di legge)."
        ),
    )

    def __init__(self, *args: Any, territories: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["territory"].queryset = territories  # type: ignore[attr-defined]


class ElectionPeriodForm(forms.Form):
    territory: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        label=_("Territorio"),
        queryset=None,
        error_messages={"invalid_choice": _("Scegli un territorio del tuo ambito.")},
    )
    kind = forms.ChoiceField(label=_("Tipo"), choices=ElectionPeriodKind.choices, widget=forms.RadioSelect)
    description = forms.CharField(
        label=_("Elezione"), max_length=200, help_text=_("Per esempio: Elezioni regionali dell'Emilia-Romagna 2029")
    )
    election_day = forms.DateField(label=_("Giorno delle elezioni"), widget=DateInput())
    dissolved_on = forms.DateField(
        label=_("Data dello scioglimento"),
        required=False,
        widget=DateInput(),
        help_text=_("Solo per lo scioglimento di una Camera."),
    )

    def __init__(self, *args: Any, territories: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["territory"].queryset = territories  # type: ignore[attr-defined]


class PublishForm(forms.Form):
    note = forms.CharField(
        label=_("Nota sulla versione (facoltativa)"),
        max_length=300,
        required=False,
        help_text=_("Per una correzione, scrivi che cosa cambia: la versione precedente resta consultabile."),
    )
