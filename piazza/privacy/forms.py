"""Forms of the data-rights pages (Italian first, wrapped for translation)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
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


class NoticeVersionForm(forms.Form):
    """A new version of a privacy notice (the privacy officer; previewed before publishing)."""

    language = forms.ChoiceField(label=_("Lingua"), choices=settings.LANGUAGES)
    label = forms.CharField(
        label=_("Etichetta della versione"),
        max_length=20,
        help_text=_("Breve e nuova, per esempio 2027.1: è quella che le persone vedono accanto al link."),
        error_messages={
            "required": _("Scrivi l'etichetta della versione, per esempio 2027.1."),
            "max_length": _("Scrivi un'etichetta di versione breve (al massimo 20 caratteri), per esempio 2027.1."),
        },
    )
    title = forms.CharField(
        label=_("Titolo"), max_length=200, error_messages={"required": _("Scrivi il titolo dell'informativa.")}
    )
    body = forms.CharField(
        label=_("Testo"),
        widget=forms.Textarea(attrs={"rows": 18}),
        max_length=40000,
        help_text=_("In Markdown: ## per i titoli dei paragrafi, una riga vuota tra i paragrafi."),
        error_messages={"required": _("Scrivi il testo dell'informativa.")},
    )
    changes = forms.CharField(
        label=_("Cosa cambia rispetto alla versione precedente (facoltativo)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 3}),
    )


class BreachForm(forms.Form):
    """What is known about a breach (GDPR art. 33(3)); every save is a new version."""

    discovered_at = forms.DateTimeField(
        label=_("Scoperta il"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%d/%m/%Y %H:%M"],
        error_messages={
            "required": _("Indica quando la violazione è stata scoperta (giorno e ora)."),
            "invalid": _("Data e ora non valide: usa il formato gg/mm/aaaa hh:mm."),
        },
    )
    nature = forms.CharField(
        label=_("Natura della violazione"),
        widget=forms.Textarea(attrs={"rows": 3}),
        max_length=5000,
        help_text=_("Che cosa è successo: perdita di riservatezza, di integrità o di disponibilità dei dati."),
        error_messages={"required": _("Descrivi che cosa è successo.")},
    )
    data_categories = forms.CharField(
        label=_("Categorie di dati coinvolti"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        error_messages={"required": _("Indica quali dati sono coinvolti (per esempio email, iscrizioni).")},
    )
    people_count = forms.IntegerField(
        label=_("Persone coinvolte (numero approssimativo)"),
        min_value=0,
        error_messages={"required": _("Indica quante persone sono coinvolte, anche approssimativamente.")},
    )
    records_count = forms.IntegerField(
        label=_("Registrazioni coinvolte (numero approssimativo)"),
        min_value=0,
        error_messages={"required": _("Indica quante registrazioni sono coinvolte, anche approssimativamente.")},
    )
    consequences = forms.CharField(
        label=_("Conseguenze probabili"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=5000,
        error_messages={"required": _("Descrivi le conseguenze probabili per le persone.")},
    )
    measures = forms.CharField(
        label=_("Misure adottate o proposte"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=5000,
        error_messages={"required": _("Descrivi le misure adottate o proposte.")},
    )
    notification_required = forms.BooleanField(
        label=_("Va notificata al Garante (presenta un rischio per le persone)"), required=False, initial=True
    )
    no_notification_reason = forms.CharField(
        label=_("Se non va notificata, perché"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    notified_at = forms.DateTimeField(
        label=_("Notificata al Garante il"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%d/%m/%Y %H:%M"],
        error_messages={"invalid": _("Data e ora non valide: usa il formato gg/mm/aaaa hh:mm.")},
    )
    delay_reason = forms.CharField(
        label=_("Motivi del ritardo (se oltre 72 ore)"),
        required=False,
        max_length=2000,
        widget=forms.Textarea(attrs={"rows": 2}),
    )
    people_informed = forms.BooleanField(label=_("Le persone coinvolte sono state informate"), required=False)
    people_informed_at = forms.DateTimeField(
        label=_("Informate il"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}, format="%Y-%m-%dT%H:%M"),
        input_formats=["%Y-%m-%dT%H:%M", "%d/%m/%Y %H:%M"],
        error_messages={"invalid": _("Data e ora non valide: usa il formato gg/mm/aaaa hh:mm.")},
    )
