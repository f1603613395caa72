"""Import target "members of year Y" (issue 11, item 13): the circolo's spreadsheet becomes
memberships, each row through `apply_for_membership` (rules M2, M10, M13, M14, M15 and the
fee schedule, exactly as at the desk) and, when the fee was collected, `record_payment_at_circolo`
(cash only where the federation allows it, a reference for traceable methods, the ledger booked).

Registered with the people app's import wizard in `MembershipConfig.ready`; the people app
never imports this module (layers point down).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from piazza.core.errors import refuse
from piazza.membership.actions import _guards as guards_actions
from piazza.membership.actions import applicant as applicant_actions
from piazza.membership.actions import join as join_actions
from piazza.membership.actions import parameters as parameters_actions
from piazza.membership.actions import payment as payment_actions
from piazza.membership.fees import format_cents
from piazza.membership.models import Channel, PaymentMethod, rules_for
from piazza.people.import_targets import RowContext, RowOutcome
from piazza.people.models import TargetOutcome
from piazza.territory.models import Level, Role, Territory
from piazza.territory.scoping import has_role_at, scope_paths

IMPORT_ROLES = guards_actions.MEMBERSHIP_ROLES | {Role.TREASURY}
# Fees collected at the circolo before the import: the methods the desk records offline.
IMPORT_METHODS = [PaymentMethod.CASH, PaymentMethod.POS, PaymentMethod.BANK_TRANSFER]


def circoli_for(actor: Any, batch: Any) -> Any:
    """Open circoli under the batch's territory where the actor has a membership role."""
    qs = Territory.objects.filter(level=Level.CIRCOLO, closed_at__isnull=True, path__startswith=batch.territory.path)
    paths = scope_paths(actor, IMPORT_ROLES)
    if not paths:
        return qs.none()
    condition = Q(pk__in=[])
    for path in paths:
        condition |= Q(path__startswith=path)
    return qs.filter(condition).order_by("name")


class MembersOptionsForm(forms.Form):
    year = forms.IntegerField(label=gettext_lazy("Anno del tesseramento"), min_value=2000, max_value=2100)
    circolo = forms.ModelChoiceField(label=gettext_lazy("Circolo"), queryset=Territory.objects.none())
    paid = forms.ChoiceField(
        label=gettext_lazy("Quota versata"),
        widget=forms.RadioSelect,
        choices=[
            ("no", gettext_lazy("No: le iscrizioni restano da pagare")),
            ("yes", gettext_lazy("Sì: la quota è già stata incassata dal circolo")),
        ],
        initial="no",
    )
    method = forms.ChoiceField(
        label=gettext_lazy("Come è stata incassata"),
        required=False,
        choices=[("", "—"), *[(m.value, m.label) for m in IMPORT_METHODS]],
    )
    reference = forms.CharField(
        label=gettext_lazy("Riferimento del versamento"),
        max_length=80,
        required=False,
        help_text=gettext_lazy("Per POS o bonifico: il numero dell'operazione o il CRO."),
    )
    declarations = forms.BooleanField(
        label=gettext_lazy(
            "Per ogni riga il circolo conserva il modulo firmato con le dichiarazioni dello statuto e "
            "l'autorizzazione al trattamento dei dati sull'opinione politica"
        ),
        required=False,
    )

    def __init__(self, *args: Any, circoli: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["circolo"].queryset = circoli  # type: ignore[attr-defined]
        if circoli.count() == 1:
            self.fields["circolo"].initial = circoli.first()
        self.fields["year"].initial = timezone.localdate().year


class MembersTarget:
    key = "membership"
    label = gettext_lazy("Iscritti di un anno (tesseramento)")

    def options_form(self, data: Any, *, actor: Any, batch: Any, prefix: str) -> forms.Form:
        return MembersOptionsForm(data, prefix=prefix, circoli=circoli_for(actor, batch))

    def check_options(self, form: forms.Form, *, actor: Any, batch: Any) -> dict[str, Any]:
        """What the desk would refuse for every row, refused once here (each refusal audited)."""
        action = "membership.import_target"
        data = form.cleaned_data
        circolo: Territory = data["circolo"]
        year: int = data["year"]
        if not has_role_at(actor, circolo, IMPORT_ROLES):  # the form's list is scoped; a forged id is not
            refuse(
                action,
                _("Non hai un ruolo di tesseramento su %(t)s.") % {"t": circolo},
                actor=actor,
                territory=circolo,
                code="out_of_scope",
                field="circolo",
            )
        if not data["declarations"]:
            refuse(
                action,
                _(
                    "Conferma che il circolo conserva i moduli firmati: senza le dichiarazioni e "
                    "l'autorizzazione al trattamento dei dati non si registrano iscrizioni."
                ),
                actor=actor,
                territory=circolo,
                code="declarations",
                field="declarations",
            )
        schedule = parameters_actions.schedule_for(year)
        now = timezone.now()
        if schedule is None or now < schedule.opens_at:
            refuse(
                action,
                _("Il tesseramento %(year)s non è ancora aperto: scegli un altro anno.") % {"year": year},
                actor=actor,
                territory=circolo,
                code="not_open",
                field="year",
            )
        options: dict[str, Any] = {
            "year": year,
            "circolo": circolo.pk,
            "paid": data["paid"] == "yes",
            "method": "",
            "reference": "",
        }
        if options["paid"]:
            method = data["method"]
            if not method:
                refuse(
                    action,
                    _("Indica come è stata incassata la quota."),
                    actor=actor,
                    territory=circolo,
                    code="method_required",
                    field="method",
                )
            if method == PaymentMethod.CASH and not rules_for(circolo).cash_allowed:
                refuse(
                    action,
                    _(
                        "La tua federazione non ammette le quote in contanti: scegli un pagamento "
                        "tracciabile (POS, bonifico) o importa le iscrizioni come da pagare."
                    ),
                    actor=actor,
                    territory=circolo,
                    code="cash_not_allowed",
                    field="method",
                )
            if method != PaymentMethod.CASH and not data["reference"].strip():
                refuse(
                    action,
                    _(
                        "Per un pagamento tracciabile indica il riferimento (numero dell'operazione POS o "
                        "CRO del bonifico)."
                    ),
                    actor=actor,
                    territory=circolo,
                    code="reference_required",
                    field="reference",
                )
            options.update(method=method, reference=data["reference"].strip())
        return options

    def actor_problem(self, actor: Any, options: dict[str, Any]) -> str:
        circolo = Territory.objects.filter(pk=int(options.get("circolo") or 0)).first()
        if circolo is None or not getattr(actor, "is_authenticated", False):
            return "" if circolo is not None else _("Il circolo scelto per le iscrizioni non esiste più.")
        if has_role_at(actor, circolo, IMPORT_ROLES):
            return ""
        return _("Non hai un ruolo di tesseramento su %(t)s: chiedi a chi ce l'ha di registrare le iscrizioni.") % {
            "t": circolo
        }

    def describe(self, options: dict[str, Any]) -> str:
        circolo = Territory.objects.filter(pk=int(options.get("circolo") or 0)).first()
        paid = _("quota versata") if options.get("paid") else _("quota da versare")
        return _("Iscritti del %(year)s al circolo %(circolo)s, %(paid)s") % {
            "year": options.get("year"),
            "circolo": circolo.name if circolo else "—",
            "paid": paid,
        }

    def apply_row(self, row: RowContext, *, actor: Any, batch: Any, options: dict[str, Any]) -> RowOutcome:
        person = row.person
        circolo = Territory.objects.get(pk=options["circolo"])
        year = int(options["year"])
        if person.birth_date is None:  # M14: JoinData needs it; say so before the action would fail
            return RowOutcome(
                TargetOutcome.REFUSED, _("Manca la data di nascita, obbligatoria per il registro degli iscritti.")
            )
        data = applicant_actions.JoinData(
            first_name=person.first_name,
            last_name=person.last_name,
            birth_date=person.birth_date,
            codice_fiscale=person.codice_fiscale,
            citizenship=person.citizenship,
            sex=person.sex,
            birth_comune=person.birth_comune,
            birth_country=person.birth_country,
            residence_street=person.residence_street,
            residence_cap=person.residence_cap,
            residence_comune=person.residence_comune,
            email=row.emails[0] if row.emails else "",
            phone=row.phones[0] if row.phones else "",
            # The secretary confirmed for the whole file that the signed forms are kept (M15, M4).
            declarations_accepted=True,
            art9_authorised=True,
        )
        user = actor if getattr(actor, "is_authenticated", False) else None
        try:
            membership = join_actions.apply_for_membership(
                actor=actor, data=data, circolo=circolo, channel=Channel.CIRCOLO, year=year, registered_by=user
            )
        except (ValidationError, PermissionDenied) as exc:
            reasons = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
            return RowOutcome(TargetOutcome.REFUSED, " ".join(reasons))
        if not options.get("paid"):
            return RowOutcome(
                TargetOutcome.DONE,
                _("Iscrizione %(year)s registrata al circolo %(circolo)s: quota di %(fee)s da versare.")
                % {"year": year, "circolo": circolo.name, "fee": format_cents(membership.fee_cents)},
            )
        try:
            membership = payment_actions.record_payment_at_circolo(
                actor=actor, membership=membership, method=options["method"], reference=options["reference"]
            )
        except (ValidationError, PermissionDenied) as exc:
            reasons = exc.messages if isinstance(exc, ValidationError) else [str(exc)]
            return RowOutcome(
                TargetOutcome.DONE, _("Iscrizione registrata, ma la quota no: %(why)s") % {"why": " ".join(reasons)}
            )
        return RowOutcome(
            TargetOutcome.DONE,
            _("Iscrizione %(year)s registrata al circolo %(circolo)s, quota di %(fee)s versata, tessera n. %(card)s.")
            % {
                "year": year,
                "circolo": circolo.name,
                "fee": format_cents(membership.fee_cents),
                "card": membership.card_number,
            },
        )


TARGET = MembersTarget()
