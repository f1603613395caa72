"""Forms of the events app (labels in Italian, errors at their field)."""

from __future__ import annotations

import re
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from piazza.events.models import Visibility
from piazza.events.queries import find_comune
from piazza.people.notices import NoticeFormMixin
from piazza.territory.models import Comune, Territory

CAP_RE = re.compile(r"^\d{5}$")


def _clean_comune(value: str, *, required: bool) -> Comune | None:
    value = (value or "").strip()
    if not value:
        if required:
            raise forms.ValidationError(_("Scrivi il comune."))
        return None
    comune = find_comune(value)
    if comune is None:
        raise forms.ValidationError(
            _("Non troviamo il comune «%(name)s»: scrivilo per intero, per esempio «Reggio nell'Emilia».")
            % {"name": value[:60]}
        )
    return comune


def _clean_cap(value: str) -> str:
    value = (value or "").strip()
    if value and not CAP_RE.match(value):
        raise forms.ValidationError(_("Il CAP è fatto di 5 cifre, per esempio 40121."))
    return value


class RsvpForm(NoticeFormMixin, forms.Form):
    notice_key = "event"  # GDPR art. 13: the notice shown is recorded with the RSVP

    first_name = forms.CharField(
        label=_("Nome"), max_length=100, widget=forms.TextInput(attrs={"autocomplete": "given-name"})
    )
    last_name = forms.CharField(
        label=_("Cognome"), max_length=100, widget=forms.TextInput(attrs={"autocomplete": "family-name"})
    )
    email = forms.EmailField(
        label=_("Email"),
        help_text=_("Ti mandiamo la conferma, il promemoria e il codice per l'ingresso."),
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
    )
    phone = forms.CharField(
        label=_("Cellulare (facoltativo)"),
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )
    comune = forms.CharField(label=_("Comune dove vivi"), max_length=120, required=False)
    postal_code = forms.CharField(
        label=_("CAP"),
        max_length=5,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "postal-code"}),
    )
    political_consent = forms.BooleanField(
        label=_("Voglio ricevere comunicazioni politiche del partito (facoltativo)"), required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.setup_notice()

    def clean_comune(self) -> Comune | None:
        return _clean_comune(self.cleaned_data.get("comune", ""), required=False)

    def clean_postal_code(self) -> str:
        return _clean_cap(self.cleaned_data.get("postal_code", ""))


class NearForm(forms.Form):
    q = forms.CharField(label=_("Comune o CAP"), max_length=120, required=False)


class EventForm(forms.Form):
    territory = forms.ModelChoiceField(label=_("Organizza"), queryset=Territory.objects.none())
    cohosts = forms.ModelMultipleChoiceField(
        label=_("Insieme a (facoltativo)"),
        queryset=Territory.objects.none(),
        required=False,
        help_text=_("Altri territori che organizzano con te: i loro responsabili vedranno gli iscritti."),
    )
    title = forms.CharField(label=_("Titolo"), max_length=200)
    description = forms.CharField(
        label=_("Descrizione"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 6}),
        help_text=_("Puoi usare il Markdown: **grassetto**, elenchi, link."),
    )
    comune = forms.CharField(label=_("Comune"), max_length=120, required=False)
    address = forms.CharField(label=_("Indirizzo"), max_length=200, required=False)
    postal_code = forms.CharField(label=_("CAP"), max_length=5, required=False)
    online_url = forms.URLField(label=_("Oppure il link per partecipare online"), required=False, assume_scheme="https")
    starts_at = forms.DateTimeField(
        label=_("Inizio"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )
    ends_at = forms.DateTimeField(
        label=_("Fine"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )
    capacity = forms.IntegerField(
        label=_("Posti"), required=False, min_value=1, help_text=_("Lascia vuoto se non c'è un limite.")
    )
    waiting_list = forms.BooleanField(label=_("Lista d'attesa quando i posti finiscono"), required=False, initial=True)
    visibility = forms.ChoiceField(label=_("Visibilità"), choices=Visibility.choices, initial=Visibility.PUBLIC)

    def __init__(self, *args: Any, territories: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["territory"].queryset = territories  # type: ignore[attr-defined]
        self.fields["cohosts"].queryset = Territory.objects.filter(closed_at__isnull=True).exclude(level="circolo")  # type: ignore[attr-defined]

    def clean_comune(self) -> Comune | None:
        return _clean_comune(self.cleaned_data.get("comune", ""), required=False)

    def clean_postal_code(self) -> str:
        return _clean_cap(self.cleaned_data.get("postal_code", ""))


class CancelEventForm(forms.Form):
    notice = forms.CharField(
        label=_("Messaggio per gli iscritti"),
        widget=forms.Textarea(attrs={"rows": 4}),
        error_messages={"required": _("Scrivi due righe per chi si era iscritto.")},
    )


class CodeForm(forms.Form):
    code = forms.CharField(
        label=_("Codice d'ingresso"),
        max_length=400,
        help_text=_("Inquadra il QR con la fotocamera o scrivi il codice di 8 caratteri."),
        widget=forms.TextInput(attrs={"autocomplete": "off", "autocapitalize": "characters"}),
    )


class WalkInForm(forms.Form):
    first_name = forms.CharField(label=_("Nome"), max_length=100)
    last_name = forms.CharField(label=_("Cognome"), max_length=100)
    email = forms.EmailField(label=_("Email"), required=False)
    phone = forms.CharField(
        label=_("Cellulare"), max_length=30, required=False, widget=forms.TextInput(attrs={"type": "tel"})
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not data.get("email") and not (data.get("phone") or "").strip():
            self.add_error("email", _("Scrivi almeno l'email o il cellulare."))
        return data
