"""Forms of the funding app: the public donation form (works without JavaScript) and the
back-office forms for campaigns, pools and peer-to-peer pages."""

from __future__ import annotations

import datetime as dt
import uuid
from typing import Any

from django import forms
from django.core import signing
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from piazza.compliance.companies import LEGAL_ATTESTATIONS, LegalGiverInput
from piazza.compliance.models import GiverKind
from piazza.compliance.rules import ATTESTATIONS
from piazza.core.forms import preselect_only_choice
from piazza.core.money import Money, MoneyFormField, format_eur
from piazza.core.prepared import prepared_read
from piazza.funding.models import (
    Campaign,
    CampaignKind,
    ExclusionReason,
    Frequency,
    FundingModel,
    PoolMode,
    QuadraticVariant,
)
from piazza.people.codice_fiscale import validate_codice_fiscale
from piazza.people.notices import NoticeFormMixin
from piazza.territory.models import Comune

CAMPAIGN_SIGNER_SALT = "funding.donation-form"


def sign_campaign(campaign: Campaign) -> str:
    """The form carries the campaign it was rendered for, signed: a tampered id is detected."""
    return signing.dumps(campaign.pk, salt=CAMPAIGN_SIGNER_SALT)


@prepared_read(Comune)
def _current_comuni_named(name: str) -> QuerySet[Comune]:
    """The comune a donor types, by name in any case (the `comune_name_upper` index); compiled
    once per process on PostgreSQL (ADR 0034; SQLite's LIKE escaping keeps it on the ORM)."""
    return Comune.objects.filter(name__iexact=name, valid_to__isnull=True)[:2]


@prepared_read(Comune)
def _comuni_named(name: str) -> QuerySet[Comune]:
    return Comune.objects.filter(name__iexact=name)[:2]


def _text(label: Any, **kw: Any) -> forms.CharField:
    return forms.CharField(label=label, **kw)


class DonationForm(NoticeFormMixin, forms.Form):
    """Amount (preset or custom), frequency (never pre-selected), donor details for the law."""

    notice_key = "donate"

    campaign_token = forms.CharField(widget=forms.HiddenInput)
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=80)
    # What the page promised per preset ("1000:1000,2500:2500"): if the pools ran out meanwhile,
    # the donor is told before paying instead of silently getting less.
    shown_matches = forms.CharField(widget=forms.HiddenInput, required=False, max_length=300)
    page = forms.CharField(widget=forms.HiddenInput, required=False)
    refcode = forms.CharField(widget=forms.HiddenInput, required=False, max_length=60)
    utm_source = forms.CharField(widget=forms.HiddenInput, required=False, max_length=100)
    utm_medium = forms.CharField(widget=forms.HiddenInput, required=False, max_length=100)
    utm_campaign = forms.CharField(widget=forms.HiddenInput, required=False, max_length=100)

    preset = forms.ChoiceField(label=_("Importo"), required=False, widget=forms.RadioSelect)
    custom_amount = MoneyFormField(label=_("Altro importo (€)"), required=False, min_cents=1)
    frequency = forms.ChoiceField(
        label=_("Frequenza"),
        choices=Frequency.choices,
        widget=forms.RadioSelect,
        error_messages={"required": _("Scegli se donare una volta sola o ogni mese.")},
    )
    cover_fee = forms.BooleanField(label=_("Aggiungo il costo della transazione"), required=False)

    first_name = _text(_("Nome"), max_length=100, widget=forms.TextInput(attrs={"autocomplete": "given-name"}))
    last_name = _text(_("Cognome"), max_length=100, widget=forms.TextInput(attrs={"autocomplete": "family-name"}))
    codice_fiscale = _text(
        _("Codice fiscale"),
        max_length=20,
        help_text=_("Serve per la ricevuta e per la legge sul finanziamento della politica."),
        widget=forms.TextInput(attrs={"autocapitalize": "characters", "spellcheck": "false"}),
    )
    email = forms.EmailField(label=_("Email"), widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    address = _text(
        _("Indirizzo di residenza"), max_length=200, widget=forms.TextInput(attrs={"autocomplete": "street-address"})
    )
    postal_code = forms.RegexField(
        label=_("CAP"),
        regex=r"^\d{5}$",
        error_messages={"invalid": _("Il CAP ha 5 cifre, per esempio 40121.")},
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "postal-code"}),
    )
    comune = _text(
        _("Comune di residenza"), max_length=120, help_text=_("Scrivi il nome del comune, per esempio Bologna.")
    )

    publication = forms.ChoiceField(
        label=_("Pubblicazione del nome (legge 3/2019)"),
        choices=[
            ("accept", _("Ho capito: sopra 500 € in un anno il mio nome sarà pubblicato per legge")),
            ("object", _("Non voglio che il mio nome sia mai pubblicato")),
        ],
        widget=forms.RadioSelect,
        initial="accept",
    )
    on_wall = forms.BooleanField(label=_("Mostra il mio nome tra i sostenitori di questa pagina"), required=False)
    message = forms.CharField(
        label=_("Un messaggio (facoltativo)"), max_length=280, required=False, widget=forms.Textarea(attrs={"rows": 2})
    )
    updates = forms.BooleanField(
        label=_("Voglio ricevere gli aggiornamenti di questa raccolta per email"), required=False
    )
    remember_method = forms.BooleanField(
        label=_("Ricorda la mia carta per donare in un clic la prossima volta"),
        required=False,
        help_text=_("La carta la conserva il circuito di pagamento, non noi."),
    )

    def __init__(self, *args: Any, campaign: Campaign, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.campaign = campaign
        fields: Any = self.fields
        fields["preset"].choices = [(str(c), format_eur(c)) for c in campaign.presets]
        fields["custom_amount"].min_cents = None  # the campaign minimum is checked below, with its message
        if not campaign.allow_monthly:
            fields["frequency"].choices = [(Frequency.ONE_OFF, Frequency.ONE_OFF.label)]
        for key, text in ATTESTATIONS:
            self.fields[f"attest_{key}"] = forms.BooleanField(label=text, required=False)
        if not self.is_bound:
            self.initial.setdefault("campaign_token", sign_campaign(campaign))
            self.initial.setdefault("idempotency_key", uuid.uuid4().hex)
        preselect_only_choice(self)  # a campaign taking one-off gifts only: "Una volta" is chosen
        self.setup_notice()  # GDPR art. 13: the notice shown is recorded with the gift

    @property
    def attestation_fields(self) -> list[Any]:
        return [self[f"attest_{key}"] for key, _t in ATTESTATIONS]

    def clean_campaign_token(self) -> int:
        try:
            pk = signing.loads(self.cleaned_data["campaign_token"], salt=CAMPAIGN_SIGNER_SALT)
        except signing.BadSignature:
            pk = None
        if pk != self.campaign.pk:
            # A hidden field's error would be invisible: shown at the top of the form instead.
            self.add_error(
                None,
                forms.ValidationError(
                    _("Questo modulo non appartiene a questa raccolta: ricarica la pagina e riprova."), code="tampered"
                ),
            )
            return 0
        return int(pk)

    def clean_codice_fiscale(self) -> str:
        result = validate_codice_fiscale(self.cleaned_data["codice_fiscale"])
        if result.errors:
            raise forms.ValidationError([str(e) for e in result.errors], code="codice_fiscale")
        return result.code

    def clean_comune(self) -> Comune:
        name = " ".join(self.cleaned_data["comune"].split())
        matches = _current_comuni_named.rows(name) or _comuni_named.rows(name)
        if not matches:
            raise forms.ValidationError(
                _("Non troviamo il comune «%(name)s»: scrivilo per intero, come sulla carta d'identità.")
                % {"name": name},
                code="comune",
            )
        return matches[0]

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        preset = data.get("preset")
        custom: Money | None = data.get("custom_amount")
        amount: int | None = None
        if custom is not None:
            amount = custom.cents
        elif preset:
            try:
                amount = int(preset)
            except ValueError:
                amount = None
        if amount is None and "custom_amount" not in self.errors:
            self.add_error(
                "custom_amount", forms.ValidationError(_("Scegli un importo o scrivine uno."), code="amount_required")
            )
        elif amount is not None and amount < self.campaign.min_gift_cents:
            self.add_error(
                "custom_amount",
                forms.ValidationError(
                    _("La donazione minima per questa raccolta è %(min)s.")
                    % {"min": format_eur(self.campaign.min_gift_cents)},
                    code="below_minimum",
                ),
            )
        data["amount_cents"] = amount
        return data

    def shown_match_for(self, amount_cents: int) -> int | None:
        for pair in str(self.cleaned_data.get("shown_matches") or "").split(","):
            amount, _sep, match = pair.partition(":")
            if amount.strip() == str(amount_cents) and match.strip().isdigit():
                return int(match)
        return None

    def attestations_given(self) -> list[str]:
        return [key for key, _t in ATTESTATIONS if self.cleaned_data.get(f"attest_{key}")]


class CampaignForm(forms.Form):
    title = forms.CharField(label=_("Titolo"), max_length=140)
    summary = forms.CharField(label=_("In una frase"), max_length=240)
    title_en = forms.CharField(
        label=_("Titolo in inglese (facoltativo)"),
        max_length=140,
        required=False,
        help_text=_("Chi legge il sito in inglese vede questo titolo, se c'è."),
    )
    summary_en = forms.CharField(label=_("In una frase, in inglese (facoltativo)"), max_length=240, required=False)
    story_markdown = forms.CharField(
        label=_("Racconto (Markdown)"), widget=forms.Textarea(attrs={"rows": 10}), required=False
    )
    kind = forms.ChoiceField(label=_("Tipo"), choices=CampaignKind.choices)
    funding_model = forms.ChoiceField(label=_("Modello di raccolta"), choices=FundingModel.choices)
    goal = MoneyFormField(label=_("Obiettivo (€)"))
    minimum = MoneyFormField(label=_("Minimo da raggiungere (€, solo per «tutto o niente»)"), required=False)
    deadline = forms.DateTimeField(label=_("Scadenza"), widget=forms.DateTimeInput(attrs={"type": "datetime-local"}))
    candidacy: forms.ModelChoiceField[Any] = forms.ModelChoiceField(
        label=_("Candidatura"), queryset=None, required=False
    )

    def __init__(self, *args: Any, candidacies: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["candidacy"].queryset = candidacies  # type: ignore[attr-defined]

    def clean_deadline(self) -> Any:
        value = self.cleaned_data["deadline"]
        if value <= timezone.now():
            raise forms.ValidationError(_("La scadenza deve essere nel futuro."))
        return value

    def action_kwargs(self) -> dict[str, Any]:
        d = self.cleaned_data
        return {
            "title": d["title"],
            "summary": d["summary"],
            "story_markdown": d["story_markdown"],
            "title_en": d["title_en"],
            "summary_en": d["summary_en"],
            "kind": d["kind"],
            "funding_model": d["funding_model"],
            "goal_cents": d["goal"].cents,
            "minimum_cents": d["minimum"].cents if d.get("minimum") else None,
            "deadline": d["deadline"],
            "candidacy": d.get("candidacy"),
        }


class BudgetLineForm(forms.Form):
    label = forms.CharField(label=_("Voce di spesa"), max_length=140)
    amount = MoneyFormField(label=_("Importo (€)"))


class FAQForm(forms.Form):
    question = forms.CharField(label=_("Domanda"), max_length=250)
    answer = forms.CharField(label=_("Risposta"), widget=forms.Textarea(attrs={"rows": 3}))


class ImageForm(forms.Form):
    image = forms.ImageField(label=_("Immagine"))
    alt_text = forms.CharField(label=_("Testo alternativo (cosa mostra l'immagine)"), max_length=250)


class UpdateForm(forms.Form):
    title = forms.CharField(label=_("Titolo"), max_length=140)
    body_markdown = forms.CharField(label=_("Testo (Markdown)"), widget=forms.Textarea(attrs={"rows": 6}))


class RejectForm(forms.Form):
    reason = forms.CharField(label=_("Motivo del rifiuto"), widget=forms.Textarea(attrs={"rows": 3}))


class SplitForm(forms.Form):
    """One line per recipient: "territory id, percent" (e.g. circolo 70, federation 30)."""

    shares = forms.CharField(
        label=_("Ripartizione (una riga per destinatario: struttura, percentuale)"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
        help_text=_("Esempio: «Circolo PD Bologna Centro, 70» e «Federazione di Bologna, 30»."),
    )


class PoolForm(forms.Form):
    name = forms.CharField(label=_("Nome del fondo"), max_length=140)
    budget = MoneyFormField(label=_("Budget (€)"))
    ratio_num = forms.IntegerField(label=_("Euro aggiunti…"), min_value=1, max_value=10, initial=1)
    ratio_den = forms.IntegerField(label=_("…per ogni euro donato"), min_value=1, max_value=10, initial=1)
    cap_per_donation = MoneyFormField(label=_("Massimo per donazione (€)"), required=False)
    cap_per_donor = MoneyFormField(label=_("Massimo per donatore (€)"), required=False)
    cap_per_campaign = MoneyFormField(label=_("Massimo per raccolta (€)"), required=False)
    small_gift_max = MoneyFormField(label=_("Solo donazioni fino a (€)"), required=False)
    min_distinct_donors = forms.IntegerField(label=_("Donatori distinti minimi"), min_value=0, initial=0)
    eligible_kinds = forms.MultipleChoiceField(
        label=_("Tipi di raccolta ammessi (nessuno = tutti)"),
        choices=CampaignKind.choices,
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    mode = forms.ChoiceField(label=_("Modalità"), choices=PoolMode.choices)
    top_up_threshold_pct = forms.IntegerField(
        label=_("Soglia per il completamento (%)"), min_value=1, max_value=99, initial=75
    )
    priority = forms.IntegerField(label=_("Ordine di applicazione (più basso prima)"), min_value=0, initial=100)
    exclusive = forms.BooleanField(label=_("Esclusivo"), required=False)
    closes_on = forms.DateField(
        label=_("Chiusura del round (ultimo giorno)"),
        required=False,
        widget=forms.DateInput(attrs={"type": "date"}),
        help_text=_("Per un round quadratico: il fondo si ripartisce dopo la mezzanotte di questo giorno."),
    )
    quadratic_variant = forms.ChoiceField(
        label=_("Variante del round quadratico"), choices=QuadraticVariant.choices, initial=QuadraticVariant.STANDARD
    )
    donor_ceiling = MoneyFormField(
        label=_("Contributo di ogni donatore contato fino a (€)"),
        required=False,
        help_text=_("Round quadratico: oltre questa cifra una donazione non aumenta il raddoppio."),
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("mode") == PoolMode.QUADRATIC:
            closes_on = data.get("closes_on")
            if closes_on is None:
                self.add_error("closes_on", _("Un round quadratico ha bisogno del giorno di chiusura."))
            elif closes_on < timezone.localdate():
                self.add_error("closes_on", _("Il giorno di chiusura è già passato: scegline uno da oggi in poi."))
        return data

    def closes_at(self) -> dt.datetime | None:
        """The end of the closing day in Rome (midnight after it)."""
        day = self.cleaned_data.get("closes_on")
        if day is None:
            return None
        return timezone.make_aware(dt.datetime.combine(day + dt.timedelta(days=1), dt.time()))


class FundraisingPageForm(forms.Form):
    display_name = forms.CharField(label=_("Il tuo nome sulla pagina"), max_length=100)
    title = forms.CharField(label=_("Titolo della tua pagina"), max_length=140)
    story = forms.CharField(
        label=_("Perché sostieni questa raccolta"), max_length=2000, widget=forms.Textarea(attrs={"rows": 5})
    )
    goal = MoneyFormField(label=_("Il tuo obiettivo (€)"))
    team = forms.CharField(label=_("Squadra (facoltativa)"), max_length=100, required=False)
    first_name = forms.CharField(label=_("Nome"), max_length=100)
    last_name = forms.CharField(label=_("Cognome"), max_length=100)
    email = forms.EmailField(label=_("Email"))


class OneClickForm(forms.Form):
    """A returning donor's one-click gift: the amount is one of the campaign's presets."""

    campaign_token = forms.CharField(widget=forms.HiddenInput)
    idempotency_key = forms.CharField(widget=forms.HiddenInput, max_length=80)
    amount = forms.TypedChoiceField(
        coerce=int,
        error_messages={
            "invalid_choice": _("Scegli uno degli importi proposti."),
            "required": _("Scegli uno degli importi proposti."),
        },
    )

    def __init__(self, *args: Any, campaign: Campaign, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.campaign = campaign
        self.fields["amount"].choices = [(str(c), format_eur(c)) for c in campaign.presets]  # type: ignore[attr-defined]
        if not self.is_bound:
            self.initial.setdefault("campaign_token", sign_campaign(campaign))
            self.initial.setdefault("idempotency_key", uuid.uuid4().hex)
        preselect_only_choice(self)  # a campaign taking one-off gifts only: "Una volta" is chosen

    def clean_campaign_token(self) -> int:
        try:
            pk = signing.loads(self.cleaned_data["campaign_token"], salt=CAMPAIGN_SIGNER_SALT)
        except signing.BadSignature:
            pk = None
        if pk != self.campaign.pk:
            raise forms.ValidationError(_("Questo modulo non appartiene a questa raccolta: ricarica la pagina."))
        return int(pk)


class LegalGiverDonationForm(DonationForm):
    """Rule F13: «Dono a nome di un'azienda o associazione». The person fields are those of the
    legal representative; the entity, its public capital, the board resolution and the entity's
    attestations replace the natural person's F4 attestations. One-off gifts only."""

    giver_kind = forms.ChoiceField(
        label=_("Chi dona"),
        choices=[(GiverKind.COMPANY, GiverKind.COMPANY.label), (GiverKind.ASSOCIATION, GiverKind.ASSOCIATION.label)],
        widget=forms.RadioSelect,
        error_messages={"required": _("Scegli se doni a nome di un'azienda o di un'associazione.")},
    )
    legal_name = forms.CharField(label=_("Ragione sociale"), max_length=200)
    entity_code = forms.CharField(
        label=_("Partita IVA o codice fiscale dell'ente"),
        max_length=16,
        help_text=_("11 cifre, come nella visura camerale."),
        widget=forms.TextInput(attrs={"inputmode": "numeric", "spellcheck": "false"}),
    )
    public_capital = forms.DecimalField(
        label=_("Quota di capitale pubblico (%)"),
        min_value=0,
        max_value=100,
        decimal_places=2,
        initial=0,
        help_text=_("La parte del capitale posseduta da enti pubblici; 0 se nessuna."),
    )
    resolution = forms.FileField(
        label=_("Delibera dell'organo sociale (PDF, JPG o PNG, al massimo 10 MB)"),
        error_messages={"required": _("Allega la delibera dell'organo sociale che approva il contributo.")},
    )
    resolution_date = forms.DateField(
        label=_("Data della delibera"), widget=forms.DateInput(attrs={"type": "date"}, format="%Y-%m-%d")
    )

    def __init__(self, *args: Any, campaign: Campaign, **kwargs: Any) -> None:
        super().__init__(*args, campaign=campaign, **kwargs)
        for key, _text in ATTESTATIONS:  # rule F4 is for natural persons: the entity attests F13
            del self.fields[f"attest_{key}"]
        for key, text in LEGAL_ATTESTATIONS:
            self.fields[f"legal_attest_{key}"] = forms.BooleanField(label=text, required=False)
        fields: Any = self.fields
        fields["frequency"].choices = [(Frequency.ONE_OFF, Frequency.ONE_OFF.label)]
        fields["frequency"].initial = Frequency.ONE_OFF
        fields["first_name"].label = _("Nome del legale rappresentante")
        fields["last_name"].label = _("Cognome del legale rappresentante")
        fields["codice_fiscale"].label = _("Codice fiscale del legale rappresentante")
        fields["address"].label = _("Sede legale")
        fields["comune"].label = _("Comune della sede legale")
        del self.fields["remember_method"]

    @property
    def attestation_fields(self) -> list[Any]:
        return [self[f"legal_attest_{key}"] for key, _t in LEGAL_ATTESTATIONS]

    def attestations_given(self) -> list[str]:
        return []

    def legal_giver(self) -> LegalGiverInput:
        d = self.cleaned_data
        return LegalGiverInput(
            kind=d["giver_kind"],
            legal_name=d["legal_name"],
            entity_code=d["entity_code"],
            public_capital_percent=d["public_capital"],
            resolution=d.get("resolution"),
            resolution_date=d.get("resolution_date"),
            attestations=[key for key, _t in LEGAL_ATTESTATIONS if d.get(f"legal_attest_{key}")],
        )


class RoundExclusionForm(forms.Form):
    """The treasurer leaves gifts out of a quadratic round's match, saying why (issue 17)."""

    donations = forms.CharField(
        label=_("Numeri delle donazioni"),
        max_length=4000,
        help_text=_("Separati da virgole, come nell'elenco qui sopra, per esempio 120, 121."),
    )
    category = forms.ChoiceField(label=_("Motivo"), choices=ExclusionReason.choices)
    reason = forms.CharField(
        label=_("Spiegazione (resta nel registro)"), max_length=280, widget=forms.Textarea(attrs={"rows": 2})
    )

    def clean_donations(self) -> list[int]:
        raw = self.cleaned_data["donations"].replace(";", ",").replace(" ", ",")
        parts = [p.strip().lstrip("#") for p in raw.split(",") if p.strip()]
        if not parts or not all(p.isascii() and p.isdigit() and len(p) <= 12 for p in parts):
            raise forms.ValidationError(_("Scrivi i numeri delle donazioni separati da virgole, per esempio 120, 121."))
        return sorted({int(p) for p in parts})


class RoundSimulationForm(forms.Form):
    """Before opening a round: the same gifts under a linear pool and under the quadratic rule."""

    since = forms.DateField(label=_("Donazioni dal"), widget=forms.DateInput(attrs={"type": "date"}))
    until = forms.DateField(label=_("al (compreso)"), widget=forms.DateInput(attrs={"type": "date"}))
    budget = MoneyFormField(label=_("Fondo (€)"))
    ratio_num = forms.IntegerField(label=_("Fondo lineare: euro aggiunti…"), min_value=1, max_value=10, initial=1)
    ratio_den = forms.IntegerField(label=_("…per ogni euro donato"), min_value=1, max_value=10, initial=1)
    cap_per_campaign = MoneyFormField(label=_("Massimo per raccolta (€)"), required=False)
    min_distinct_donors = forms.IntegerField(label=_("Donatori distinti minimi"), min_value=0, initial=0)
    donor_ceiling = MoneyFormField(label=_("Contributo di ogni donatore contato fino a (€)"), required=False)
    quadratic_variant = forms.ChoiceField(
        label=_("Variante del round quadratico"), choices=QuadraticVariant.choices, initial=QuadraticVariant.STANDARD
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since, until = data.get("since"), data.get("until")
        if since and until:
            if until < since:
                self.add_error("until", _("La fine del periodo viene prima dell'inizio: scambia le due date."))
            elif (until - since).days > 731:
                self.add_error("until", _("Scegli un periodo di due anni al massimo."))
        return data
