"""Back-office forms of the candidate journey (rules F10–F12). People are named by codice fiscale
and looked up only among the people the official may see."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from piazza.compliance.models import DeclarationStatus, ElectionKind, ExpenseCategory
from piazza.core.money import MoneyFormField


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


class CandidacyForm(forms.Form):
    territory: forms.ModelChoiceField[Any] = forms.ModelChoiceField(label=_("Struttura"), queryset=None)
    election_kind = forms.ChoiceField(label=_("Tipo di elezione"), choices=ElectionKind.choices)
    election = forms.CharField(
        label=_("Elezione"), max_length=150, help_text=_("Per esempio: Elezioni comunali di Bologna 2027")
    )
    candidate_codice_fiscale = forms.CharField(
        label=_("Codice fiscale del candidato/a"),
        max_length=16,
        help_text=_("La persona deve essere già in anagrafica (Persone) nel tuo territorio."),
    )
    constituency = forms.CharField(label=_("Collegio"), max_length=150)
    residents = forms.IntegerField(label=_("Residenti nel collegio"), min_value=0, initial=0)
    elections_called_on = forms.DateField(
        label=_("Data di indizione delle elezioni"), required=False, widget=DateInput()
    )
    election_day = forms.DateField(label=_("Giorno delle elezioni"), required=False, widget=DateInput())
    spending_cap = MoneyFormField(
        label=_("Tetto di spesa (€)"),
        required=False,
        help_text=_("Lascia vuoto per il tetto di legge: 52.000 € per collegio più 1 centesimo per residente."),
    )

    def __init__(self, *args: Any, territories: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["territory"].queryset = territories  # type: ignore[attr-defined]


class MandatarioForm(forms.Form):
    codice_fiscale = forms.CharField(
        label=_("Codice fiscale del mandatario"),
        max_length=16,
        help_text=_("Una persona già in anagrafica nel tuo territorio."),
    )
    iban = forms.CharField(label=_("IBAN dell'unico conto del mandatario"), max_length=42)


class ExpenseForm(forms.Form):
    supplier = forms.CharField(label=_("Fornitore"), max_length=150)
    description = forms.CharField(label=_("Descrizione"), max_length=200)
    amount = MoneyFormField(label=_("Importo (€)"))
    incurred_on = forms.DateField(label=_("Data della spesa"), widget=DateInput())
    # Rule F11: the category of the declaration (a parameter list) and the receipt, annexed to it.
    category: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        label=_("Categoria"), queryset=ExpenseCategory.objects.filter(active=True), empty_label=None
    )
    receipt = forms.FileField(
        label=_("Giustificativo (PDF, JPG o PNG, al massimo 10 MB)"),
        error_messages={"required": _("Allega il giustificativo: la dichiarazione lo elenca tra gli allegati.")},
    )
    idempotency_key = forms.CharField(widget=forms.HiddenInput)


class DeclarationForm(forms.Form):
    donor: forms.TypedChoiceField = forms.TypedChoiceField(label=_("Chi ha donato"), coerce=int, choices=())
    document = forms.FileField(label=_("Dichiarazione firmata (PDF, JPG o PNG, al massimo 10 MB)"))
    signed_on = forms.DateField(label=_("Data della firma"), widget=DateInput())
    status = forms.ChoiceField(label=_("Stato"), choices=DeclarationStatus.choices)
    filed_on = forms.DateField(label=_("Data del deposito"), required=False, widget=DateInput())

    def __init__(self, *args: Any, donors: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["donor"].choices = donors  # type: ignore[attr-defined]
