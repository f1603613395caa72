"""The record of processing activities (GDPR art. 30(1)), generated from the platform's own
configuration so it cannot drift from what the code does (issue 12):

- controller and DPO: settings.PRIVACY_CONTROLLER_* / PRIVACY_DPO_*;
- activities: what each app declares in `personal_data.PROCESSING` (piazza.core.processing),
  plus one per consent purpose (people.Purpose, rule G3);
- data categories: each handler's `PERSONAL_FIELDS` in the registry (privacy.registry);
- retention: settings.PRIVACY_RETENTION and PRIVACY_LEGAL_HOLDS (privacy.retention, erasure);
- recipients and processors: the payment providers configured, the email backend, hosting;
- security measures: those the settings actually switch on.

`build_record()` is read by the privacy officer's page and by `to_pdf` (fpdf2, as the export).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.conf import settings
from django.core.exceptions import FieldDoesNotExist
from django.utils import timezone
from django.utils.translation import gettext as _
from fpdf import FPDF

from piazza.core.processing import Processing
from piazza.payments.providers.registry import available_providers
from piazza.people.models import Purpose
from piazza.privacy import registry
from piazza.privacy.export import _latin

# Providers that process data outside the EU (art. 30(1)(e)): transfers under SCC (art. 46).
NON_EU_PROVIDERS = {"stripe": "Stripe Inc. (USA)", "paypal": "PayPal (Europe) S.à r.l. / PayPal Inc. (USA)"}


@dataclass
class Category:
    section: str
    model: str
    fields: list[str]


@dataclass
class ProcessingRecord:
    generated_at: Any
    controller: dict[str, str]
    activities: list[dict[str, Any]] = field(default_factory=list)
    categories: list[Category] = field(default_factory=list)
    retention: list[tuple[str, str]] = field(default_factory=list)
    recipients: list[tuple[str, str]] = field(default_factory=list)
    transfers: list[str] = field(default_factory=list)
    security: list[str] = field(default_factory=list)


RETENTION_TEXTS = {
    "inactive_contacts_years": lambda v: (
        _("Contatti senza iscrizioni né donazioni: cancellati dopo %(n)s anni senza interazioni") % {"n": v}
    ),
    "import_rows_days": lambda v: _("Righe dei file importati: cancellate dopo %(n)s giorni") % {"n": v},
    "expired_links_days": lambda v: (
        _("Link inviati per email: indirizzo cancellato %(n)s giorni dopo la scadenza") % {"n": v}
    ),
}


def _retention_text(key: str) -> str:
    if key in settings.PRIVACY_LEGAL_HOLDS:
        hold = settings.PRIVACY_LEGAL_HOLDS[key]
        return _("%(years)s anni dalla fine dell'anno di registrazione: %(basis)s") % {
            "years": hold["years"],
            "basis": hold["basis"],
        }
    if key in settings.PRIVACY_RETENTION:
        return str(RETENTION_TEXTS[key](settings.PRIVACY_RETENTION[key]))
    return key


def _declared_activities() -> list[tuple[str, Processing]]:
    return [
        (handler.section, item) for handler in registry.handlers() for item in getattr(handler.module, "PROCESSING", [])
    ]


def _categories() -> list[Category]:
    found = []
    for handler in registry.handlers():
        for model, names in handler.personal_models.items():
            labels = []
            for name in names:
                try:
                    labels.append(str(getattr(model._meta.get_field(name), "verbose_name", name)))
                except FieldDoesNotExist:  # a declared attribute that is not a model field
                    labels.append(name)
            found.append(Category(handler.section, str(model._meta.verbose_name_plural), labels))
    return found


def _recipients() -> tuple[list[tuple[str, str]], list[str]]:
    recipients = [
        (_("Incaricati del partito"), _("Funzionari con credenziali personali e 2FA, ciascuno nel proprio territorio")),
        (_("Ospitalità dei server"), settings.PRIVACY_HOSTING_PROVIDER),
    ]
    email = settings.PRIVACY_EMAIL_PROVIDER or settings.EMAIL_BACKEND.rsplit(".", 1)[-1]
    recipients.append((_("Invio delle email"), email))
    transfers = []
    for provider in available_providers():
        recipients.append((_("Circuito di pagamento"), str(provider.verbose_name or provider.identifier)))
        if provider.identifier in NON_EU_PROVIDERS:
            transfers.append(
                _("%(who)s: clausole contrattuali standard (art. 46.2.c GDPR)")
                % {"who": NON_EU_PROVIDERS[provider.identifier]}
            )
    return recipients, transfers


def _security() -> list[str]:
    measures = [
        _("Autenticazione a due fattori obbligatoria per ogni funzionario (regola G4)"),
        _("Accesso limitato al territorio di competenza di ciascun incaricato (perimetro per territorio)"),
        _("Registro delle attività a catena di hash, con ogni visualizzazione ed esportazione di dati personali"),
        _("Registri contabili e versioni delle informative in sola aggiunta (trigger del database)"),
        _("Impronte con chiave (HMAC-SHA256) al posto dei dati di chi ha chiesto la cancellazione"),
        _("Link monouso e a scadenza per dimostrare un indirizzo email; nessuna identità digitata vale da sola"),
        _("Esportazioni da un solo scrittore che neutralizza le formule e registra ogni file prodotto"),
    ]
    if settings.PASSWORD_HASHERS and "Argon2" in settings.PASSWORD_HASHERS[0]:
        measures.append(_("Password cifrate con Argon2"))
    if settings.SESSION_COOKIE_SECURE and settings.CSRF_COOKIE_SECURE:
        measures.append(_("Cookie di sessione solo su HTTPS, protezione CSRF"))
    if settings.PRIVACY_RETENTION_APPLY:
        measures.append(_("Conservazione applicata ogni giorno in automatico"))
    else:
        measures.append(_("Conservazione: rapporto quotidiano per il responsabile, applicata su sua decisione"))
    return measures


def build_record() -> ProcessingRecord:
    record = ProcessingRecord(
        generated_at=timezone.localtime(),
        controller={
            "name": settings.PRIVACY_CONTROLLER_NAME,
            "address": settings.PRIVACY_CONTROLLER_ADDRESS,
            "email": settings.PRIVACY_CONTROLLER_EMAIL,
            "dpo": f"{settings.PRIVACY_DPO_NAME} <{settings.PRIVACY_DPO_EMAIL}>",
        },
    )
    for section, item in _declared_activities():
        record.activities.append(
            {
                "section": section,
                "name": str(item.name),
                "purpose": str(item.purpose),
                "basis": str(item.legal_basis),
                "subjects": str(item.subjects),
                "special": item.special_category,
                "retention": [_retention_text(key) for key in item.retention],
            }
        )
    for value, label in Purpose.choices:
        record.activities.append(
            {
                "section": "people",
                "name": _("Finalità con consenso: %(purpose)s") % {"purpose": label},
                "purpose": str(label),
                "basis": _("Consenso specifico, documentato e revocabile (art. 6.1.a e 9.2.a GDPR; regola G3)"),
                "subjects": _("Chi ha dato il consenso per questa finalità"),
                "special": True,
                "retention": [_("Fino alla revoca; lo storico del consenso resta come prova")],
                "purpose_key": value,
            }
        )
    record.categories = _categories()
    keys = [*settings.PRIVACY_LEGAL_HOLDS, *settings.PRIVACY_RETENTION]
    record.retention = [(key, _retention_text(key)) for key in keys]
    record.recipients, record.transfers = _recipients()
    record.security = _security()
    return record


def to_pdf(record: ProcessingRecord) -> bytes:
    """The record as a PDF (fpdf2 core fonts, Latin-1 as the data export)."""
    pdf = FPDF(format="A4")
    pdf.set_auto_page_break(True, margin=15)
    pdf.set_margin(15)
    pdf.add_page()

    def heading(text: str, size: int = 13) -> None:
        pdf.ln(3)
        pdf.set_font("helvetica", "B", size)
        pdf.multi_cell(0, 7, _latin(text), new_x="LMARGIN", new_y="NEXT")

    def line(text: str, size: int = 9) -> None:
        pdf.set_font("helvetica", "", size)
        pdf.multi_cell(0, 5, _latin(text), new_x="LMARGIN", new_y="NEXT")

    heading(_("Registro delle attività di trattamento (art. 30 GDPR)"), 15)
    line(
        _("Generato il %(at)s dalla configurazione della piattaforma.")
        % {"at": f"{record.generated_at:%d/%m/%Y %H:%M}"}
    )
    heading(_("Titolare e responsabile della protezione dei dati"))
    line(f"{record.controller['name']}, {record.controller['address']} - {record.controller['email']}")
    line(_("DPO: %(dpo)s") % {"dpo": record.controller["dpo"]})
    heading(_("Attività di trattamento"))
    for activity in record.activities:
        pdf.set_font("helvetica", "B", 10)
        pdf.multi_cell(0, 6, _latin(activity["name"]), new_x="LMARGIN", new_y="NEXT")
        line(_("Finalità: %(v)s") % {"v": activity["purpose"]})
        line(_("Base giuridica: %(v)s") % {"v": activity["basis"]})
        line(_("Interessati: %(v)s") % {"v": activity["subjects"]})
        if activity["special"]:
            line(_("Dati particolari: opinioni politiche (art. 9 GDPR, regola G1)"))
        for text in activity["retention"]:
            line(_("Conservazione: %(v)s") % {"v": text})
        pdf.ln(1)
    heading(_("Categorie di dati personali"))
    for category in record.categories:
        line(f"[{category.section}] {category.model}: {', '.join(category.fields)}")
    heading(_("Termini di conservazione"))
    for _key, text in record.retention:
        line(text)
    heading(_("Destinatari e responsabili del trattamento"))
    for who, what in record.recipients:
        line(f"{who}: {what}")
    heading(_("Trasferimenti verso paesi terzi"))
    for text in record.transfers or [_("Nessuno")]:
        line(text)
    heading(_("Misure di sicurezza tecniche e organizzative"))
    for text in record.security:
        line(f"- {text}")
    return bytes(pdf.output())
