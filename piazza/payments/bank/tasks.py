"""Thin, idempotent tasks (convention 13): they take ids and call actions or send one email."""

from __future__ import annotations

from pathlib import Path

from django.conf import settings
from django.core.mail import send_mail
from django.template.loader import render_to_string
from django.utils import timezone
from django.utils.translation import gettext as _
from django_tasks import task

from piazza.core.money import format_money
from piazza.territory.models import Role, RoleAssignment, Territory


@task()
def send_prenotification(collection_id: int) -> None:
    """Tell the debtor amount and date of the coming debit (SEPA pre-notification)."""
    from piazza.payments.bank.iban import mask_iban
    from piazza.payments.bank.models import Collection

    collection = Collection.objects.select_related("mandate", "mandate__creditor").get(pk=collection_id)
    mandate = collection.mandate
    if not mandate.debtor_email:
        return
    context = {
        "name": mandate.debtor_name,
        "amount": format_money(collection.amount),
        "date": collection.due_date.strftime("%d/%m/%Y"),
        "creditor": mandate.creditor.name,
        "creditor_id": mandate.creditor.creditor_id,
        "mandate": mandate.reference,
        "iban": mask_iban(mandate.debtor_iban),
        "description": collection.description,
    }
    send_mail(
        _("Avviso di addebito SEPA del %(date)s") % {"date": context["date"]},
        render_to_string("bank/email/prenotification.txt", context),
        settings.DEFAULT_FROM_EMAIL,
        [mandate.debtor_email],
    )


@task()
def send_return_notices(collection_id: int) -> None:
    """Plain-words notices of a returned debit: to the debtor and to the territory's treasurers."""
    from piazza.payments.bank.models import Collection
    from piazza.payments.bank.return_reasons import reason_for

    collection = Collection.objects.select_related("mandate", "mandate__creditor", "territory").get(pk=collection_id)
    mandate = collection.mandate
    reason = reason_for(collection.return_reason)
    retry = Collection.objects.filter(retry_of=collection).first()
    context = {
        "name": mandate.debtor_name,
        "amount": format_money(collection.amount),
        "date": collection.due_date.strftime("%d/%m/%Y"),
        "creditor": mandate.creditor.name,
        "reason": reason.treasurer,
        "debtor_text": reason.debtor_text,
        "code": reason.code,
        "mandate": mandate.reference,
        "retry_date": retry.due_date.strftime("%d/%m/%Y") if retry else "",
        "status": mandate.get_status_display(),
    }
    if mandate.debtor_email:
        send_mail(
            _("Il tuo addebito SEPA del %(date)s non è andato a buon fine") % {"date": context["date"]},
            render_to_string("bank/email/return_debtor.txt", context),
            settings.DEFAULT_FROM_EMAIL,
            [mandate.debtor_email],
        )
    paths = [p for p in collection.territory.path.strip("/").split("/") if p]
    treasurers = (
        RoleAssignment.objects.active()
        .filter(role=Role.TREASURY, territory_id__in=[int(p) for p in paths])
        .select_related("user")
    )
    emails = sorted({a.user.email for a in treasurers if a.user.email})
    if emails:
        send_mail(
            _("Addebito SEPA respinto: %(name)s, %(amount)s (%(code)s)") % context,
            render_to_string("bank/email/return_treasurer.txt", context),
            settings.DEFAULT_FROM_EMAIL,
            emails,
        )


@task()
def process_statement_import(statement_import_id: int, actor_id: int | None = None) -> None:
    """Store and match the lines of an uploaded statement (the page shows the progress)."""
    from django.contrib.auth import get_user_model

    from piazza.payments.bank.actions.statements import process_statement_import as process

    actor = get_user_model().objects.filter(pk=actor_id).first() if actor_id else None
    process(actor=actor, statement_import_id=statement_import_id)


@task()
def settle_payment(payment_id: int) -> None:
    """Re-fetch a bank-rail payment through its provider and apply the outcome (idempotent)."""
    from dataclasses import replace

    from piazza.payments.actions.sync import sync_payment
    from piazza.payments.models import Dispute, Payment
    from piazza.payments.providers.registry import get_provider

    payment = Payment.objects.filter(pk=payment_id).first()
    if payment is None:
        return
    remote = get_provider(payment.provider).fetch(payment)
    known = set(Dispute.objects.filter(payment=payment).values_list("provider_reference", flat=True))
    fresh = [d for d in remote.disputes if d.status == "lost" and d.reference not in known]
    if fresh:
        # A return is final when we learn of it; payments moves succeeded → disputed → charged back.
        opened = replace(remote, disputes=[replace(d, status="open") for d in remote.disputes])
        sync_payment(actor=None, payment=payment, remote=opened, source="statement")
        payment.refresh_from_db()
    sync_payment(actor=None, payment=payment, remote=remote, source="statement")


@task()
def expire_mandates() -> int:
    from piazza.payments.bank.actions.mandates import expire_mandates as expire

    return expire(actor=None, today=timezone.localdate())


@task()
def import_drop_folder() -> int:
    """Scheduled import: every file in BANK_STATEMENT_DROP_DIR/<territory id>/ is imported for that
    territory, then moved to done/ (or failed/ with the reason beside it). Safe to re-run: lines
    already imported are skipped by fingerprint."""
    from django.core.exceptions import ValidationError

    from piazza.payments.bank.actions.statements import import_statement

    root = getattr(settings, "BANK_STATEMENT_DROP_DIR", "")
    if not root:
        return 0
    count = 0
    for folder in sorted(Path(root).iterdir()):
        if not folder.is_dir() or not folder.name.isdigit():
            continue
        territory = Territory.objects.filter(pk=int(folder.name)).first()
        if territory is None:
            continue
        for path in sorted(p for p in folder.iterdir() if p.is_file()):
            target = folder / "done"
            try:
                import_statement(
                    actor=None, territory=territory, filename=path.name, data=path.read_bytes(), source="folder"
                )
            except ValidationError as error:
                target = folder / "failed"
                target.mkdir(exist_ok=True)
                (target / f"{path.name}.error.txt").write_text("\n".join(error.messages), encoding="utf-8")
            target.mkdir(exist_ok=True)
            path.rename(target / path.name)
            count += 1
    return count
