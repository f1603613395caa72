"""Forms of the join flow, the circolo desk, rolls and anomaly review (labels in Italian)."""

from __future__ import annotations

from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from piazza.core.forms import preselect_only_choice
from piazza.core.money import MoneyFormField
from piazza.membership.models import DESK_METHODS, Delivery, FlagStatus, PaymentMethod
from piazza.people.models import Citizenship, Purpose, Sex
from piazza.people.notices import NoticeFormMixin

YES_NO = [("no", _("No")), ("yes", _("Sì"))]
# Rule M15 needs an explicit answer: "No" is never pre-set (issue 11 item 18).
OTHER_PARTY_REQUIRED = _("Rispondi: sei iscritto a un altro partito o movimento politico?")


class ComuneForm(forms.Form):
    comune = forms.CharField(
        label=_("Comune di residenza"),
        max_length=120,
        help_text=_("Serve a proporti i circoli della tua zona. Chi risiede all'estero scriva «estero»."),
    )


class JoinForm(NoticeFormMixin, forms.Form):
    """Rule M14 fields, M2 citizenship, M15 declarations, M4 authorisation, the circolo (M10)."""

    notice_key = "join"  # GDPR art. 13: the notice shown is recorded with the application

    first_name = forms.CharField(
        label=_("Nome"), max_length=100, widget=forms.TextInput(attrs={"autocomplete": "given-name"})
    )
    last_name = forms.CharField(
        label=_("Cognome"), max_length=100, widget=forms.TextInput(attrs={"autocomplete": "family-name"})
    )
    sex = forms.ChoiceField(label=_("Sesso (come nel codice fiscale)"), choices=Sex.choices)
    birth_date = forms.DateField(label=_("Data di nascita"), widget=forms.DateInput(attrs={"type": "date"}))
    birth_place = forms.CharField(label=_("Comune (o stato estero) di nascita"), max_length=120)
    codice_fiscale = forms.CharField(
        label=_("Codice fiscale"),
        max_length=16,
        help_text=_("Serve a garantire che ogni persona abbia una sola tessera all'anno."),
        widget=forms.TextInput(attrs={"autocapitalize": "characters", "spellcheck": "false"}),
    )
    citizenship = forms.ChoiceField(label=_("Cittadinanza"), choices=Citizenship.choices)
    has_residence_permit = forms.BooleanField(
        label=_("Ho un permesso di soggiorno valido (solo cittadini extra UE)"), required=False
    )
    residence_street = forms.CharField(
        label=_("Indirizzo di residenza o domicilio"),
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "street-address"}),
    )
    residence_cap = forms.CharField(
        label=_("CAP"),
        max_length=5,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "postal-code"}),
    )
    email = forms.EmailField(label=_("Email"), widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    phone = forms.CharField(
        label=_("Cellulare"),
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"type": "tel", "autocomplete": "tel"}),
    )
    circolo = forms.TypedChoiceField(
        label=_("Circolo"),
        coerce=int,
        help_text=_("I circoli del tuo comune, e quelli online, tematici e i Punti PD aperti a tutti."),
    )
    member_of_other_party = forms.ChoiceField(
        label=_("Sei iscritto a un altro partito o movimento politico?"),
        choices=YES_NO,
        widget=forms.RadioSelect,
        error_messages={"required": OTHER_PARTY_REQUIRED},
    )
    declarations_accepted = forms.BooleanField(
        label=_(
            "Dichiaro di non far parte di gruppi consiliari diversi da quelli del PD e di non essere stato "
            "escluso dal partito in base al codice etico."
        ),
        required=False,
    )
    art9_authorised = forms.BooleanField(
        label=_(
            "Autorizzo il trattamento dei miei dati, che rivelano la mia opinione politica, per la gestione "
            "dell'iscrizione (GDPR art. 9, par. 2, lett. d)."
        ),
        required=False,
    )

    def __init__(self, *args: Any, circoli: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["circolo"].choices = [("", _("Scegli il circolo")), *circoli]  # type: ignore[attr-defined]
        self.setup_notice()


class DeskPaymentForm(forms.Form):
    """The fee at the circolo: only the methods the federation allows (issue 11 item 11),
    preselected when there is just one."""

    method = forms.ChoiceField(label=_("Metodo di pagamento"), choices=PaymentMethod.choices)
    reference = forms.CharField(
        label=_("Riferimento (n. operazione POS, CRO del bonifico)"), max_length=80, required=False
    )
    payer_name = forms.CharField(label=_("Chi paga (se diverso dall'iscritto)"), max_length=200, required=False)
    instrument = forms.CharField(
        label=_("Ultime cifre della carta o IBAN usato"),
        max_length=40,
        required=False,
        help_text=_("Serve a controllare che una carta non paghi troppe tessere."),
    )

    def __init__(self, *args: Any, methods: list[str] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        if methods is not None:
            field = self.fields["method"]
            field.choices = [(m, PaymentMethod(m).label) for m in methods]  # type: ignore[attr-defined]
            field.initial = (
                methods[0] if len(methods) == 1 else (PaymentMethod.POS if PaymentMethod.POS in methods else None)
            )
            if len(methods) == 1:
                field.help_text = _("L'unico metodo che la tua federazione ammette al circolo.")
            elif not methods:
                field.help_text = _("La tua federazione non ammette pagamenti della quota al circolo.")


PAPER_CONSENTS = [(p.value, p.label) for p in Purpose]


class DeskJoinForm(JoinForm, DeskPaymentForm):
    """At the circolo: the paper form digitised, the fee recorded in the same step. The email is
    optional here (issue 11 item 12): a phone, or the signed paper form collected, instead."""

    notice_key = "desk"  # the notice printed on the paper form the person signed

    email = forms.EmailField(
        label=_("Email (facoltativa)"),
        required=False,
        widget=forms.EmailInput(attrs={"autocomplete": "email"}),
        help_text=_(
            "Se c'è, la ricevuta arriva per email. Senza email indica il cellulare o conferma il modulo cartaceo."
        ),
    )
    paper_form_signed = forms.BooleanField(
        label=_("Modulo cartaceo firmato raccolto"),
        required=False,
        help_text=_("Conserva il modulo al circolo: vale come firma della domanda e dei consensi."),
    )
    consents = forms.MultipleChoiceField(
        label=_("Consensi barrati sul modulo cartaceo"),
        choices=PAPER_CONSENTS,
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Spunta solo le caselle barrate dalla persona."),
    )
    paper_form = forms.FileField(
        label=_("Modulo cartaceo firmato (scansione, facoltativa)"),
        required=False,
        help_text=_("PDF, JPEG o PNG, al massimo 5 MB."),
    )
    signature_scan = forms.FileField(
        label=_("Firma scansionata (facoltativa)"), required=False, help_text=_("PDF, JPEG o PNG, al massimo 5 MB.")
    )

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if not (data.get("email") or data.get("phone") or data.get("paper_form_signed")) and not self.has_error(
            "email"
        ):
            self.add_error(
                "email",
                _("Senza email indica un cellulare, oppure conferma di aver raccolto il modulo cartaceo firmato."),
            )
        if data.get("consents") and not data.get("paper_form_signed"):
            self.add_error(
                "paper_form_signed",
                _("I consensi si registrano dal modulo cartaceo firmato: conferma di averlo raccolto."),
            )
        return data


class DeliverForm(forms.Form):
    delivery = forms.ChoiceField(label=_("Consegna"), choices=Delivery.choices, initial=Delivery.CIRCOLO)


class CongressForm(forms.Form):
    name = forms.CharField(label=_("Nome del congresso"), max_length=200)
    cut_off = forms.DateTimeField(
        label=_("Termine (data e ora, al secondo)"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}),
        input_formats=["%Y-%m-%dT%H:%M:%S", "%Y-%m-%dT%H:%M", "%d/%m/%Y %H:%M:%S"],
    )
    years = forms.CharField(label=_("Anni di tesseramento validi"), help_text=_("Es. 2025, 2026"))

    def clean_years(self) -> list[int]:
        try:
            return sorted(
                {int(part) for part in str(self.cleaned_data["years"]).replace(";", ",").split(",") if part.strip()}
            )
        except ValueError:
            raise forms.ValidationError(_("Scrivi gli anni separati da virgole, es. 2025, 2026.")) from None


class VoteForm(forms.Form):
    members_total = forms.IntegerField(label=_("Componenti della commissione"), min_value=1)
    votes_for = forms.IntegerField(label=_("Favorevoli"), min_value=0)
    votes_against = forms.IntegerField(label=_("Contrari"), min_value=0)
    abstentions = forms.IntegerField(label=_("Astenuti"), min_value=0, initial=0)
    note = forms.CharField(label=_("Note"), required=False, widget=forms.Textarea(attrs={"rows": 2}))


class EligibilityForm(forms.Form):
    codice_fiscale = forms.CharField(label=_("Codice fiscale"), max_length=16)


class ReviewForm(forms.Form):
    # No outcome is pre-chosen: the commission picks one (issue 11 item 18).
    status = forms.ChoiceField(
        label=_("Esito"),
        choices=[
            ("", _("Scegli l'esito")),
            (FlagStatus.RESOLVED, FlagStatus.RESOLVED.label),
            (FlagStatus.CONFIRMED, FlagStatus.CONFIRMED.label),
        ],
        error_messages={"required": _("Scegli l'esito dell'esame.")},
    )
    note = forms.CharField(label=_("Nota"), widget=forms.Textarea(attrs={"rows": 2}))


class SupporterForm(NoticeFormMixin, forms.Form):
    notice_key = "albo"  # GDPR art. 13: the notice shown is recorded with the registration

    first_name = forms.CharField(label=_("Nome"), max_length=100)
    last_name = forms.CharField(label=_("Cognome"), max_length=100)
    birth_date = forms.DateField(label=_("Data di nascita"), widget=forms.DateInput(attrs={"type": "date"}))
    birth_place = forms.CharField(label=_("Comune (o stato estero) di nascita"), max_length=120)
    codice_fiscale = forms.CharField(label=_("Codice fiscale"), max_length=16)
    citizenship = forms.ChoiceField(label=_("Cittadinanza"), choices=Citizenship.choices)
    has_residence_permit = forms.BooleanField(label=_("Ho un permesso di soggiorno valido"), required=False)
    residence_street = forms.CharField(label=_("Indirizzo di residenza"), max_length=200)
    residence_comune = forms.CharField(label=_("Comune di residenza"), max_length=120)
    email = forms.EmailField(label=_("Email"))
    phone = forms.CharField(label=_("Cellulare"), max_length=30, widget=forms.TextInput(attrs={"type": "tel"}))
    declares_support = forms.BooleanField(
        label=_("Dichiaro di sostenere il Partito Democratico alle elezioni"), required=False
    )
    consents_to_contact = forms.BooleanField(
        label=_("Acconsento all'uso di email e cellulare per le comunicazioni dell'Albo"), required=False
    )

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.setup_notice()


class RenewalForm(forms.Form):
    """One-click renewal: last year's data, asking again what may have changed since (M2, M15, M4)."""

    citizenship = forms.ChoiceField(label=_("Cittadinanza"), choices=Citizenship.choices)
    has_residence_permit = forms.BooleanField(
        label=_("Ho un permesso di soggiorno valido oggi (solo cittadini extra UE)"),
        required=False,
        help_text=_("Il permesso può essere scaduto dall'anno scorso: confermalo di nuovo."),
    )
    residence_street = forms.CharField(
        label=_("Indirizzo di residenza o domicilio"),
        max_length=200,
        widget=forms.TextInput(attrs={"autocomplete": "street-address"}),
    )
    residence_cap = forms.CharField(
        label=_("CAP"),
        max_length=5,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "postal-code"}),
    )
    member_of_other_party = forms.ChoiceField(
        label=_("Sei iscritto a un altro partito o movimento politico?"),
        choices=YES_NO,
        widget=forms.RadioSelect,
        error_messages={"required": OTHER_PARTY_REQUIRED},
    )
    declarations_accepted = forms.BooleanField(
        label=_(
            "Confermo di non far parte di gruppi consiliari diversi da quelli del PD e di non essere stato "
            "escluso dal partito in base al codice etico."
        ),
        required=False,
    )
    art9_authorised = forms.BooleanField(
        label=_(
            "Autorizzo il trattamento dei miei dati, che rivelano la mia opinione politica, per la gestione "
            "dell'iscrizione (GDPR art. 9, par. 2, lett. d)."
        ),
        required=False,
    )
    yearly_sepa = forms.BooleanField(
        label=_("Rinnova ogni anno con addebito diretto SEPA sul mio conto"),
        required=False,
        help_text=_(
            "Firmi un mandato SEPA nella pagina di pagamento. Ogni anno ricevi un avviso prima "
            "dell'addebito e puoi annullarlo con un clic."
        ),
    )


# --- Officials' screens: blocks (M9), transfers (M23), objections (M18), rules and fees ------


class BlockForm(forms.Form):
    reason = forms.CharField(
        label=_("Motivo e condizione per sbloccare"),
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("Es.: contributi da eletto 2025 non ancora versati."),
    )


class LiftForm(forms.Form):
    note = forms.CharField(label=_("Nota di sblocco"), max_length=300, help_text=_("Es.: contributi versati il 2/4."))


class TransferRequestForm(forms.Form):
    to_circolo = forms.TypedChoiceField(label=_("Circolo di destinazione"), coerce=int)
    reason = forms.CharField(label=_("Motivo (lavoro, studio, domicilio)"), max_length=300)

    def __init__(self, *args: Any, circoli: list[tuple[int, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["to_circolo"].choices = [("", _("Scegli il circolo")), *circoli]  # type: ignore[attr-defined]
        preselect_only_choice(self)


DECISIONS = [("approve", _("Approva")), ("refuse", _("Respingi"))]


class TransferDecisionForm(forms.Form):
    decision = forms.ChoiceField(label=_("Decisione"), choices=DECISIONS, widget=forms.RadioSelect)
    reason = forms.CharField(label=_("Motivazione"), max_length=300, required=False)


class ObjectionForm(forms.Form):
    body = forms.ChoiceField(
        label=_("Chi contesta"), choices=[("circolo", _("Il circolo")), ("commission", _("La commissione di garanzia"))]
    )
    reason = forms.CharField(label=_("Motivo della contestazione"), widget=forms.Textarea(attrs={"rows": 2}))


class ObjectionDecisionForm(forms.Form):
    uphold = forms.ChoiceField(
        label=_("Decisione"),
        widget=forms.RadioSelect,
        choices=[("yes", _("Accolta: l'iscrizione è respinta")), ("no", _("Respinta: l'iscrizione è confermata"))],
    )
    reason = forms.CharField(label=_("Motivazione"), widget=forms.Textarea(attrs={"rows": 2}))


class AppealForm(forms.Form):
    reason = forms.CharField(label=_("Motivi"), widget=forms.Textarea(attrs={"rows": 2}))


class AppealDecisionForm(forms.Form):
    """Rule M18: the competent commission's decision on an appeal, with reasons."""

    outcome = forms.ChoiceField(
        label=_("Esito del ricorso"),
        widget=forms.RadioSelect,
        choices=[
            ("upheld", _("Accolto: la decisione impugnata è ribaltata")),
            ("rejected", _("Respinto: la decisione impugnata resta")),
            ("inadmissible", _("Inammissibile (fuori termine o senza titolo): la decisione impugnata resta")),
        ],
    )
    reason = forms.CharField(label=_("Motivazione"), widget=forms.Textarea(attrs={"rows": 2}))


class FeeScheduleForm(forms.Form):
    """Rule M5: the fees of a year (national membership office)."""

    year = forms.IntegerField(label=_("Anno"), min_value=2000, max_value=2100)
    base_fee = MoneyFormField(label=_("Quota base"), initial="15,00")
    national_surcharge = MoneyFormField(label=_("Maggiorazione nazionale"), min_cents=0, initial="0,00")
    regional_surcharge_cap = MoneyFormField(
        label=_("Tetto della maggiorazione regionale"), min_cents=0, initial="20,00"
    )
    total_cap = MoneyFormField(label=_("Tetto del totale all'iscrizione"), initial="40,00")
    regional_deadline = forms.DateField(
        label=_("Termine per le maggiorazioni regionali"), widget=forms.DateInput(attrs={"type": "date"})
    )
    reduced_percent = forms.IntegerField(
        label=_("Percentuale pagata nella fascia 16–26 anni"), min_value=0, max_value=100, initial=50
    )
    opens_at = forms.DateTimeField(
        label=_("Apertura del tesseramento"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
    )
    closes_at = forms.DateTimeField(
        label=_("Chiusura (facoltativa)"),
        required=False,
        widget=forms.DateTimeInput(attrs={"type": "datetime-local", "step": "1"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
    )


class SurchargeForm(forms.Form):
    """Rule M6: a region's surcharge, by the deadline, within the caps."""

    year = forms.IntegerField(label=_("Anno"), min_value=2000, max_value=2100)
    amount = MoneyFormField(label=_("Maggiorazione regionale"), min_cents=0)


INHERIT = [("", _("come il livello superiore")), ("yes", _("Sì")), ("no", _("No"))]


class RulesForm(forms.Form):
    """Per-territory parameters (open or per-federation in DOMAIN.md); empty = inherit."""

    min_age = forms.IntegerField(label=_("Età minima"), required=False, min_value=14, max_value=18)
    max_per_instrument = forms.IntegerField(
        label=_("Tessere massime con lo stesso strumento di pagamento"), required=False, min_value=1
    )
    refuse_prepaid_cards = forms.ChoiceField(label=_("Rifiuta carte prepagate"), choices=INHERIT, required=False)
    cash_allowed = forms.ChoiceField(label=_("Quote in contanti al circolo"), choices=INHERIT, required=False)
    desk_methods = forms.MultipleChoiceField(
        label=_("Metodi di pagamento della quota al circolo"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=[(m.value, m.label) for m in DESK_METHODS],
        help_text=_("Nessuno spuntato: come il livello superiore. I contanti valgono solo se ammessi qui sopra."),
    )
    out_of_area_cap_percent = forms.IntegerField(
        label=_("Quota massima di iscritti fuori area, %"), required=False, min_value=0, max_value=100
    )
    objection_days = forms.IntegerField(label=_("Giorni per contestare un'iscrizione"), required=False, min_value=1)
    appeal_hours = forms.IntegerField(label=_("Ore per il ricorso"), required=False, min_value=1)
    counter_appeal_hours = forms.IntegerField(label=_("Ore per il controricorso"), required=False, min_value=1)
    appeal_decision_hours_regional = forms.IntegerField(
        label=_("Ore per decidere un ricorso (commissione regionale)"), required=False, min_value=1
    )
    appeal_decision_hours_national = forms.IntegerField(
        label=_("Ore per decidere un ricorso (commissione nazionale)"), required=False, min_value=1
    )
    min_members_online = forms.IntegerField(
        label=_("Iscritti minimi di un circolo online"), required=False, min_value=1
    )
    min_members_punto_pd = forms.IntegerField(
        label=_("Persone minime dello stesso luogo per un Punto PD"), required=False, min_value=1
    )

    def rule_values(self) -> dict[str, Any]:
        values: dict[str, Any] = {}
        for name, value in self.cleaned_data.items():
            if name in ("refuse_prepaid_cards", "cash_allowed"):
                values[name] = None if value == "" else value == "yes"
            elif name == "desk_methods":
                values[name] = ",".join(value)
            else:
                values[name] = value
        return values


class AlboElectionForm(forms.Form):
    name = forms.CharField(label=_("Nome dell'elezione"), max_length=200, help_text=_("Es.: Primarie 2027"))
    fee = MoneyFormField(label=_("Contributo per i non iscritti"), min_cents=0, initial="2,00")
    opens_at = forms.DateTimeField(
        label=_("Apertura delle registrazioni"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
    )
    closes_at = forms.DateTimeField(
        label=_("Chiusura delle registrazioni"),
        widget=forms.DateTimeInput(attrs={"type": "datetime-local"}),
        input_formats=["%Y-%m-%dT%H:%M", "%Y-%m-%dT%H:%M:%S"],
    )


class RenewalCampaignForm(forms.Form):
    year = forms.IntegerField(label=_("Anno da rinnovare"), min_value=2000, max_value=2100)
