"""Forms of the volunteers app: the organiser's (opportunity, shift, call list) and the public sign-up."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from piazza.people.models import Segment
from piazza.people.notices import NoticeFormMixin
from piazza.territory.models import Territory
from piazza.volunteers.models import OpportunityKind, Outcome, Shift


class OpportunityForm(forms.Form):
    territory = forms.ModelChoiceField(label=_("Territorio"), queryset=Territory.objects.none())
    kind = forms.ChoiceField(label=_("Tipo"), choices=OpportunityKind.choices)
    title = forms.CharField(label=_("Titolo"), max_length=160)
    place = forms.CharField(label=_("Luogo"), max_length=200, help_text=_("Indirizzo o punto d'incontro."))
    description = forms.CharField(label=_("Descrizione"), required=False, widget=forms.Textarea(attrs={"rows": 4}))

    def __init__(self, *args: Any, territories: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["territory"].queryset = territories  # type: ignore[attr-defined]


class ShiftForm(forms.Form):
    starts_at = forms.DateTimeField(
        label=_("Inizio"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )
    ends_at = forms.DateTimeField(
        label=_("Fine"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M")
    )
    capacity = forms.IntegerField(label=_("Posti"), min_value=1, max_value=10000)


class SignupForm(NoticeFormMixin, forms.Form):
    notice_key = "event"  # GDPR art. 13: the notice shown is recorded with the sign-up

    shift = forms.ModelChoiceField(
        label=_("Turno"),
        queryset=Shift.objects.none(),
        widget=forms.RadioSelect,
        empty_label=None,
        error_messages={
            "required": _("Scegli il turno che vuoi fare."),
            "invalid_choice": _("Scegli uno dei turni elencati."),
        },
    )
    first_name = forms.CharField(
        label=_("Nome"), max_length=100, widget=forms.TextInput(attrs={"autocomplete": "given-name"})
    )
    last_name = forms.CharField(
        label=_("Cognome"), max_length=100, widget=forms.TextInput(attrs={"autocomplete": "family-name"})
    )
    email = forms.EmailField(label=_("Email"), widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    phone = forms.CharField(
        label=_("Cellulare"), max_length=30, widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"})
    )
    consents_to_contact = forms.BooleanField(
        label=_("Acconsento a ricevere comunicazioni politiche del partito"), required=False
    )

    def __init__(self, *args: Any, shifts: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["shift"].queryset = shifts  # type: ignore[attr-defined]
        self.fields["shift"].label_from_instance = _shift_label  # type: ignore[attr-defined]
        self.setup_notice()


def _shift_label(shift: Shift) -> str:
    start = timezone.localtime(shift.starts_at)
    end = timezone.localtime(shift.ends_at)
    left = max(shift.capacity - getattr(shift, "taken", 0), 0)
    return str(_("%(day)s, %(start)s–%(end)s (posti liberi: %(left)s)")) % {
        "day": start.strftime("%d/%m/%Y"),
        "start": start.strftime("%H:%M"),
        "end": end.strftime("%H:%M"),
        "left": left,
    }


class CallListForm(forms.Form):
    territory = forms.ModelChoiceField(label=_("Territorio"), queryset=Territory.objects.none())
    name = forms.CharField(label=_("Nome della lista"), max_length=160)
    segment = forms.ModelChoiceField(label=_("Segmento"), queryset=Segment.objects.none())
    script = forms.CharField(
        label=_("Copione"),
        widget=forms.Textarea(attrs={"rows": 8}),
        help_text=_("Cosa dire a chi risponde. Puoi usare il Markdown (**grassetto**, elenchi)."),
    )
    shift = forms.ModelChoiceField(
        label=_("Turno di telefonate (facoltativo)"),
        queryset=Shift.objects.none(),
        required=False,
        help_text=_(
            "I volontari iscritti a questo turno chiamano la lista da Il mio spazio, solo durante il turno, "
            "un contatto alla volta."
        ),
    )

    def __init__(self, *args: Any, territories: Any, segments: Any, shifts: Any = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["territory"].queryset = territories  # type: ignore[attr-defined]
        self.fields["segment"].queryset = segments  # type: ignore[attr-defined]
        if shifts is not None:
            self.fields["shift"].queryset = shifts  # type: ignore[attr-defined]
        self.fields["shift"].label_from_instance = _phone_bank_label  # type: ignore[attr-defined]


def _phone_bank_label(shift: Shift) -> str:
    start = timezone.localtime(shift.starts_at)
    return f"{shift.opportunity.title} — {start:%d/%m/%Y %H:%M}–{timezone.localtime(shift.ends_at):%H:%M}"


class OutcomeForm(forms.Form):
    outcome = forms.ChoiceField(
        label=_("Com'è andata?"),
        choices=Outcome.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("Scegli com'è andata la telefonata.")},
    )
