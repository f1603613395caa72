"""The public signature form (with its spam defences and custom questions) and the officials' forms."""

from __future__ import annotations

from typing import Any

from django import forms
from django.conf import settings
from django.core import signing
from django.core.cache import cache
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from piazza.funding.models import Campaign
from piazza.people.models import Purpose
from piazza.people.notices import NoticeFormMixin
from piazza.people.validation import normalise_email, normalise_phone
from piazza.petitions.models import Petition, PetitionKind, Question, QuestionKind
from piazza.territory.models import Comune, Territory

STARTED_SALT = "petitions.started"
# The honeypot: a field people never see (hidden by CSS and from assistive technology), bots fill.
HONEYPOT = "website"

SPAM_MESSAGE = _(
    "Non abbiamo potuto registrare la firma: il modulo è stato inviato in un modo che sembra automatico. "
    "Ricarica la pagina, compila i campi e invia di nuovo. Nulla è stato salvato."
)
TOO_FAST_MESSAGE = _(
    "Hai inviato il modulo troppo in fretta per averlo letto: controlla i dati e invia di nuovo tra qualche "
    "secondo. Nulla è stato salvato."
)
EXPIRED_MESSAGE = _("Il modulo è rimasto aperto troppo a lungo: ricarica la pagina e invia di nuovo.")

COMUNE_CACHE_SECONDS = 60 * 60

YES_NO = [("yes", _("Sì")), ("no", _("No"))]


def started_token(petition: Petition) -> str:
    """When the form was shown, signed: the minimum fill time is judged on the server's clock."""
    return signing.dumps({"p": petition.pk, "t": timezone.now().timestamp()}, salt=STARTED_SALT)


def comune_named(name: str) -> Comune | None:
    """The comune a signer typed (in force first, else a merged one), kept an hour in the shared
    cache: a viral petition asks for the same few names thousands of times (issue 15)."""
    key = f"petitions:comune:{name.lower()}"
    cached = cache.get(key)
    if isinstance(cached, Comune):
        return cached
    matches = list(Comune.objects.filter(name__iexact=name, valid_to__isnull=True)[:1]) or list(
        Comune.objects.filter(name__iexact=name)[:1]
    )
    if matches:  # a name not found is asked again next time (it may be loaded meanwhile)
        cache.set(key, matches[0], COMUNE_CACHE_SECONDS)
    return matches[0] if matches else None


def _text(label: Any, **kwargs: Any) -> forms.CharField:
    return forms.CharField(label=label, strip=True, **kwargs)


class SignatureForm(NoticeFormMixin, forms.Form):
    first_name = _text(_("Nome"), max_length=100, widget=forms.TextInput(attrs={"autocomplete": "given-name"}))
    last_name = _text(_("Cognome"), max_length=100, widget=forms.TextInput(attrs={"autocomplete": "family-name"}))
    email = forms.EmailField(label=_("Email"), max_length=254, widget=forms.EmailInput(attrs={"autocomplete": "email"}))
    comune = _text(
        _("Comune di residenza"), max_length=120, help_text=_("Scrivi il nome del comune, per esempio Bologna.")
    )
    postal_code = forms.RegexField(
        label=_("CAP"),
        regex=r"^\d{5}$",
        error_messages={"invalid": _("Il CAP ha 5 cifre, per esempio 40121.")},
        widget=forms.TextInput(attrs={"inputmode": "numeric", "autocomplete": "postal-code"}),
    )
    phone = _text(
        _("Telefono (facoltativo)"),
        max_length=30,
        required=False,
        widget=forms.TextInput(attrs={"inputmode": "tel", "autocomplete": "tel"}),
    )
    consent_political = forms.BooleanField(
        label=_("Voglio ricevere comunicazioni politiche del partito (email, messaggi)"), required=False
    )
    consent_newsletter = forms.BooleanField(label=_("Voglio ricevere la newsletter"), required=False)
    started = forms.CharField(widget=forms.HiddenInput, required=False)
    website = forms.CharField(
        label=_("Lascia vuoto questo campo"),
        required=False,
        widget=forms.TextInput(attrs={"tabindex": "-1", "autocomplete": "off"}),
    )

    def __init__(self, *args: Any, petition: Petition, questions: list[Question] | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.petition = petition
        self.notice_key = petition.notice_key
        self.questions: list[Question] = list(petition.questions.all()) if questions is None else questions
        for question in self.questions:
            self.fields[f"q_{question.pk}"] = _question_field(question)
        if not self.is_bound:
            self.initial["started"] = started_token(petition)
        self.setup_notice()  # GDPR art. 13: the version shown is recorded with each signature
        self.spam: str = ""

    @property
    def question_fields(self) -> list[Any]:
        return [self[f"q_{q.pk}"] for q in self.questions]

    @property
    def person_fields(self) -> list[Any]:
        return [self[name] for name in ("first_name", "last_name", "email", "comune", "postal_code", "phone")]

    def clean_email(self) -> str:
        try:
            return normalise_email(self.cleaned_data["email"])
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="email") from exc

    def clean_phone(self) -> str:
        value = self.cleaned_data["phone"]
        if not value:
            return ""
        try:
            return normalise_phone(value)
        except ValueError as exc:
            raise forms.ValidationError(str(exc), code="phone") from exc

    def clean_comune(self) -> Comune:
        name = " ".join(self.cleaned_data["comune"].split())
        found = comune_named(name)
        if found is None:
            raise forms.ValidationError(
                _("Non troviamo il comune «%(name)s»: scrivilo per intero, per esempio Bologna.") % {"name": name},
                code="comune",
            )
        return found

    def clean(self) -> dict[str, Any]:
        data: dict[str, Any] = super().clean() or {}
        # Spam defences (no third-party CAPTCHA): the honeypot, then the signed fill time.
        if data.get(HONEYPOT):
            self.spam = "honeypot"
            self.add_error(None, forms.ValidationError(SPAM_MESSAGE, code="honeypot"))
            return data
        try:
            started = signing.loads(data.get("started") or "", salt=STARTED_SALT, max_age=None)
            shown_at = float(started["t"])
            if started["p"] != self.petition.pk:
                raise signing.BadSignature
        except (signing.BadSignature, KeyError, TypeError, ValueError):
            self.spam = "tampered"
            self.add_error(None, forms.ValidationError(SPAM_MESSAGE, code="tampered"))
            return data
        elapsed = timezone.now().timestamp() - shown_at
        if elapsed < settings.PETITION_MIN_FILL_SECONDS:
            self.spam = "too_fast"
            self.add_error(None, forms.ValidationError(TOO_FAST_MESSAGE, code="too_fast"))
        elif elapsed > settings.PETITION_FORM_MAX_AGE_SECONDS:
            self.add_error(None, forms.ValidationError(EXPIRED_MESSAGE, code="expired"))
            self.data = self.data.copy()
            self.data["started"] = started_token(self.petition)
        return data

    def answers(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for question in self.questions:
            value = self.cleaned_data.get(f"q_{question.pk}")
            if value not in (None, ""):
                out[str(question.pk)] = value
        return out

    def purposes(self) -> list[str]:
        chosen = []
        if self.cleaned_data.get("consent_political"):
            chosen.append(Purpose.POLITICAL_COMMUNICATION.value)
        if self.cleaned_data.get("consent_newsletter"):
            chosen.append(Purpose.NEWSLETTER.value)
        return chosen


def _question_field(question: Question) -> forms.Field:
    required_message = _("Rispondi a questa domanda.")
    if question.kind == QuestionKind.CHOICE:
        return forms.ChoiceField(
            label=question.label,
            choices=[(c, c) for c in question.choices],
            required=question.required,
            widget=forms.RadioSelect,
            error_messages={
                "required": required_message,
                "invalid_choice": _("Scegli una delle opzioni proposte."),
            },
        )
    if question.kind == QuestionKind.YES_NO:
        return forms.ChoiceField(
            label=question.label,
            choices=YES_NO,
            required=question.required,
            widget=forms.RadioSelect,
            error_messages={"required": required_message, "invalid_choice": _("Rispondi sì o no.")},
        )
    return forms.CharField(
        label=question.label,
        max_length=300,
        required=question.required,
        error_messages={
            "required": required_message,
            "max_length": _("La risposta è troppo lunga: al massimo %(limit_value)d caratteri."),
        },
    )


class PetitionForm(forms.Form):
    kind = forms.ChoiceField(label=_("Tipo"), choices=PetitionKind.choices, initial=PetitionKind.PETITION)
    territory = forms.ModelChoiceField(label=_("Territorio"), queryset=Territory.objects.none())
    title = _text(_("Titolo"), max_length=200)
    text = _text(_("Testo"), widget=forms.Textarea(attrs={"rows": 6}))
    target = _text(
        _("Destinatario delle firme"),
        max_length=200,
        required=False,
        help_text=_("Per esempio «Sindaco di Bologna». Obbligatorio per una petizione."),
    )
    goal = forms.IntegerField(label=_("Obiettivo di firme"), min_value=1, initial=1000)
    campaign = forms.ModelChoiceField(
        label=_("Raccolta fondi collegata (facoltativa)"), queryset=Campaign.objects.none(), required=False
    )
    deliver_contacts = forms.BooleanField(
        label=_("L'informativa di questa petizione dice che il destinatario riceve anche le email"),
        required=False,
    )

    def __init__(self, *args: Any, territories: Any, campaigns: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        fields: Any = self.fields
        fields["territory"].queryset = territories
        fields["campaign"].queryset = campaigns


class QuestionForm(forms.Form):
    label = _text(_("Domanda"), max_length=200)
    kind = forms.ChoiceField(label=_("Tipo di risposta"), choices=QuestionKind.choices)
    choices = _text(
        _("Opzioni (una per riga)"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Solo per le domande a scelta."),
    )
    required = forms.BooleanField(label=_("Risposta obbligatoria"), required=False)
