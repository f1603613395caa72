"""Forms of the broadcasts back office and of the preference centre."""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import Q
from django.utils.translation import gettext_lazy as _

from piazza.outreach.actions.broadcasts import AB_MAX_PERCENT
from piazza.outreach.models import Variant
from piazza.people.models import Segment
from piazza.territory.models import Territory


def _in_paths(field: str, paths: list[str]) -> Q:
    condition = Q(pk__in=[])
    for path in paths:
        condition |= Q(**{f"{field}__startswith": path})
    return condition


class BroadcastForm(forms.Form):
    territory = forms.ModelChoiceField(label=_("Chi invia"), queryset=Territory.objects.none())
    segment = forms.ModelChoiceField(label=_("A chi (segmento)"), queryset=Segment.objects.none())
    subject = forms.CharField(label=_("Oggetto"), max_length=150)
    preheader = forms.CharField(
        label=_("Anteprima"),
        max_length=150,
        required=False,
        help_text=_("La riga che molti programmi mostrano dopo l'oggetto."),
    )
    body = forms.CharField(
        label=_("Testo"),
        widget=forms.Textarea(attrs={"rows": 12}),
        help_text=_(
            "Markdown: **grassetto**, *corsivo*, [collegamento](https://…), elenchi con «-». "
            "Campi personali: {{ nome }}, {{ circolo }}, {{ totale_donato }}."
        ),
    )
    subject_b = forms.CharField(
        label=_("Oggetto alternativo per il test A/B (facoltativo)"), max_length=150, required=False
    )
    ab_sample_percent = forms.IntegerField(
        label=_("Campione per ciascun oggetto (%)"),
        required=False,
        min_value=0,
        max_value=AB_MAX_PERCENT,
        initial=10,
        help_text=_("Con un oggetto alternativo: questa quota riceve A, altrettanti B, il resto riceve quello scelto."),
    )
    ab_wait_hours = forms.IntegerField(
        label=_("Ore di attesa prima di inviare il vincitore"), required=False, min_value=1, max_value=72, initial=4
    )

    def __init__(self, *args: Any, paths: list[str], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["territory"].queryset = Territory.objects.open().filter(_in_paths("path", paths))  # type: ignore[attr-defined]
        self.fields["segment"].queryset = Segment.objects.filter(_in_paths("territory__path", paths)).select_related(  # type: ignore[attr-defined]
            "territory"
        )


class ScheduleForm(forms.Form):
    send_at = forms.DateTimeField(
        label=_("Invia il (gg/mm/aaaa hh:mm), vuoto per inviare subito"),
        required=False,
        input_formats=["%d/%m/%Y %H:%M", "%Y-%m-%dT%H:%M", "%Y-%m-%d %H:%M"],
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
    )


class WinnerForm(forms.Form):
    variant = forms.ChoiceField(label=_("Oggetto vincitore"), choices=Variant.choices, widget=forms.RadioSelect)


class PreviewForm(forms.Form):
    person = forms.TypedChoiceField(label=_("Anteprima per"), coerce=int, required=False)

    def __init__(self, *args: Any, people: list[Any], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["person"].choices = [(p.pk, p.full_name) for p in people]  # type: ignore[attr-defined]
