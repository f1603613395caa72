"""Words an official understands for the audit log's codes (issue 11 item 16).

The audit log stores stable codes (`funding.approve_campaign`, `funding.campaign`, `web`); the
interface shows these phrases instead and keeps the code only in a `title` tooltip, where a
technician reading the log still finds it.
"""

from __future__ import annotations

from django.apps import apps
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

AREAS: dict[str, Promise] = {
    "auth": _("Accesso"),
    "territory": _("Territorio e incarichi"),
    "people": _("Persone"),
    "ledger": _("Contabilità"),
    "payments": _("Pagamenti"),
    "bank": _("Banca"),
    "compliance": _("Conformità"),
    "funding": _("Raccolte fondi"),
    "membership": _("Tesseramento"),
    "privacy": _("Privacy"),
    "api": _("Accesso da altri programmi"),
}

ACTIONS: dict[str, Promise] = {
    "auth.login": _("Accesso eseguito"),
    "auth.login_failed": _("Accesso non riuscito"),
    "auth.otp_failed": _("Codice di verifica sbagliato"),
    "auth.otp_setup": _("Verifica in due passaggi attivata"),
    "auth.otp_verified": _("Verifica in due passaggi superata"),
    "bank.amend_mandate": _("Mandato SEPA modificato"),
    "bank.approve_payout": _("Versamento approvato"),
    "bank.book_charge": _("Spesa bancaria registrata"),
    "bank.confirm_payout": _("Versamento confermato dalla banca"),
    "bank.download_payouts": _("File dei versamenti scaricato"),
    "bank.expect_transfer": _("Bonifico atteso registrato"),
    "bank.expire_mandate": _("Mandato SEPA scaduto"),
    "bank.export_batch": _("Distinta di addebiti esportata"),
    "bank.export_payouts": _("Versamenti esportati per la banca"),
    "bank.import_statement": _("Estratto conto importato"),
    "bank.match_transfer": _("Movimento abbinato a un bonifico"),
    "bank.prepare_batch": _("Distinta di addebiti preparata"),
    "bank.process_statement": _("Estratto conto elaborato"),
    "bank.record_return": _("Addebito respinto dalla banca"),
    "bank.register_account": _("Conto bancario registrato"),
    "bank.register_payee": _("Beneficiario registrato"),
    "bank.reject_line": _("Movimento scartato"),
    "bank.reject_payout": _("Versamento respinto"),
    "bank.request_payout": _("Versamento richiesto"),
    "bank.revoke_mandate": _("Mandato SEPA revocato"),
    "bank.schedule_collection": _("Addebito SEPA programmato"),
    "bank.settle_batch": _("Distinta di addebiti incassata"),
    "bank.sign_mandate": _("Mandato SEPA firmato"),
    "bank.view_batch": _("Distinta consultata"),
    "bank.view_line": _("Movimento consultato"),
    "bank.view_lines": _("Movimenti consultati"),
    "bank.view_mandate": _("Mandato SEPA consultato"),
    "bank.view_mandate_scan": _("Scansione del mandato consultata"),
    "bank.view_mandates": _("Elenco dei mandati consultato"),
    "bank.view_transfer": _("Bonifico consultato"),
    "bank.view_transfers": _("Elenco dei bonifici consultato"),
    "compliance.register_candidacy": _("Candidatura registrata"),
    "funding.add_budget_line": _("Voce di spesa aggiunta"),
    "funding.add_faq": _("Domanda frequente aggiunta"),
    "funding.add_image": _("Immagine aggiunta"),
    "funding.add_team_member": _("Persona aggiunta alla squadra"),
    "funding.approve_campaign": _("Raccolta approvata"),
    "funding.cancel_monthly": _("Donazione mensile interrotta"),
    "funding.create_campaign": _("Raccolta creata"),
    "funding.create_fundraising_page": _("Pagina personale di raccolta creata"),
    "funding.donation_failed": _("Donazione non riuscita"),
    "funding.donation_refunded": _("Donazione rimborsata"),
    "funding.donation_refused": _("Donazione rifiutata dalle regole"),
    "funding.donation_succeeded": _("Donazione ricevuta"),
    "funding.end_campaign": _("Raccolta conclusa"),
    "funding.launch_campaign": _("Raccolta pubblicata"),
    "funding.moderate_page": _("Pagina personale esaminata"),
    "funding.open_pool": _("Fondo di raddoppio aperto"),
    "funding.post_update": _("Aggiornamento pubblicato"),
    "funding.reject_campaign": _("Raccolta respinta"),
    "funding.set_splits": _("Ripartizione dei fondi impostata"),
    "funding.settle_campaign": _("Raccolta chiusa e liquidata"),
    "funding.submit_campaign": _("Raccolta inviata all'approvazione"),
    "funding.submit_donation": _("Donazione avviata"),
    "funding.unsubscribe_updates": _("Iscrizione agli aggiornamenti annullata"),
    "funding.update_campaign": _("Raccolta modificata"),
    "funding.view_donors": _("Elenco dei donatori consultato"),
    "ledger.post_transaction": _("Movimento contabile registrato"),
    "membership.anomaly_flag": _("Segnalazione di anomalia"),
    "membership.apply": _("Domanda di iscrizione"),
    "membership.attach_scans": _("Moduli cartacei allegati"),
    "membership.block_card": _("Tessera bloccata"),
    "membership.cancel": _("Iscrizione annullata"),
    "membership.check_instrument": _("Controllo del mezzo di pagamento"),
    "membership.compute_roll": _("Anagrafe degli iscritti calcolata"),
    "membership.create_albo_election": _("Elezione con registrazione all'Albo creata"),
    "membership.create_congress": _("Congresso indetto"),
    "membership.decide_objection": _("Contestazione decisa"),
    "membership.decide_transfer": _("Trasferimento deciso"),
    "membership.deliver_card": _("Tessera consegnata"),
    "membership.detect_anomalies": _("Ricerca delle anomalie"),
    "membership.election_fee_paid": _("Contributo per l'elezione pagato"),
    "membership.election_fee_refunded": _("Contributo per l'elezione rimborsato"),
    "membership.eligibility_check": _("Verifica dei requisiti"),
    "membership.export_receipt": _("Ricevuta stampata"),
    "membership.export_roll": _("Anagrafe degli iscritti esportata"),
    "membership.fee_disputed": _("Quota contestata dal pagatore"),
    "membership.file_appeal": _("Ricorso presentato"),
    "membership.file_counter_appeal": _("Controricorso presentato"),
    "membership.lift_card_block": _("Blocco della tessera tolto"),
    "membership.mark_paid": _("Quota segnata come pagata"),
    "membership.payment_after_end": _("Pagamento arrivato dopo la chiusura"),
    "membership.raise_objection": _("Contestazione presentata"),
    "membership.record_payment": _("Pagamento della quota registrato"),
    "membership.record_roll_vote": _("Voto sull'anagrafe registrato"),
    "membership.register_supporter": _("Registrazione all'Albo"),
    "membership.renewal_reminder": _("Promemoria di rinnovo inviato"),
    "membership.request_transfer": _("Trasferimento richiesto"),
    "membership.review_flag": _("Segnalazione esaminata"),
    "membership.sepa_debit_unmatched": _("Addebito SEPA senza iscrizione corrispondente"),
    "membership.sepa_yearly_canceled": _("Addebito annuale SEPA interrotto"),
    "membership.set_fee_schedule": _("Quote dell'anno impostate"),
    "membership.set_regional_surcharge": _("Maggiorazione regionale impostata"),
    "membership.set_rules": _("Regole del tesseramento impostate"),
    "membership.set_voting_circolo": _("Circolo di voto impostato"),
    "membership.sign_off_roll": _("Anagrafe degli iscritti firmata"),
    "membership.start_renewal_campaign": _("Campagna di rinnovo avviata"),
    "membership.view_anomalies": _("Anomalie consultate"),
    "membership.view_members": _("Elenco degli iscritti consultato"),
    "membership.view_roll": _("Anagrafe degli iscritti consultata"),
    "membership.view_transfers": _("Trasferimenti consultati"),
    "payments.begin_attempt": _("Tentativo di pagamento"),
    "payments.cancel_payment": _("Pagamento annullato"),
    "payments.cancel_schedule": _("Pagamento ricorrente interrotto"),
    "payments.create_payment": _("Pagamento creato"),
    "payments.create_recurring": _("Pagamento ricorrente creato"),
    "payments.pay": _("Pagamento con carta"),
    "payments.recurring_failed": _("Rata ricorrente non riuscita"),
    "payments.request_refund": _("Rimborso richiesto"),
    "payments.resume_schedule": _("Pagamento ricorrente ripreso"),
    "payments.treasury_list": _("Elenco dei pagamenti consultato"),
    "payments.treasury_schedules": _("Pagamenti ricorrenti consultati"),
    "payments.treasury_view": _("Pagamento consultato"),
    "payments.webhook_refused": _("Notifica del circuito di pagamento rifiutata"),
    "people.close_import_batch": _("Importazione chiusa"),
    "privacy.erase_person": _("Dati di una persona cancellati"),
    "privacy.erase_person_view": _("Pagina di cancellazione di una persona consultata"),
    "privacy.request_erasure": _("Richiesta di cancellazione dei dati"),
    "privacy.release_hold": _("Conservazione per obbligo di legge terminata: dati cancellati"),
    "privacy.apply_retention": _("Calendario di conservazione applicato"),
    "privacy.retention_report": _("Rapporto di conservazione dei dati consultato"),
    "people.create_person": _("Persona aggiunta"),
    "people.delete_segment": _("Segmento eliminato"),
    "people.dismiss_duplicate": _("Possibile doppione scartato"),
    "people.export_people": _("Persone esportate"),
    "people.find_or_create_person": _("Persona trovata o aggiunta"),
    "people.import_chunk": _("Parte di un'importazione elaborata"),
    "people.merge_people": _("Doppioni uniti"),
    "people.record_consent": _("Consenso registrato"),
    "people.run_import": _("Importazione eseguita"),
    "people.save_segment": _("Segmento salvato"),
    "people.scan_duplicates": _("Ricerca dei doppioni"),
    "people.seed_demo": _("Dati dimostrativi caricati"),
    "people.set_import_mapping": _("Colonne dell'importazione abbinate"),
    "people.set_tags": _("Etichette modificate"),
    "people.start_import": _("Importazione avviata"),
    "people.update_person": _("Dati di una persona modificati"),
    "people.view_person": _("Scheda di una persona consultata"),
    "people.withdraw_consent": _("Consenso ritirato"),
    "territory.close": _("Struttura chiusa"),
    "territory.create": _("Struttura creata"),
    "territory.load_istat": _("Elenco dei comuni caricato"),
    "territory.set_area": _("Area di competenza modificata"),
    "territory.view_officials": _("Incarichi consultati"),
}

CHANNELS: dict[str, Promise] = {
    "web": _("sito"),
    "admin": _("amministrazione tecnica"),
    "api": _("altro programma"),
    "task": _("attività automatica"),
    "command": _("comando del server"),
    "system": _("sistema"),
}


def action_label(code: str) -> str:
    """The phrase for an audit action code; an unknown code reads as "<area>: other operation"."""
    known = ACTIONS.get(code)
    if known is not None:
        return str(known)
    area = AREAS.get(code.split(".", 1)[0])
    if area is not None:
        return str(_("%(area)s: altra operazione") % {"area": area})
    return str(_("Altra operazione"))


def area_choices() -> list[tuple[str, str]]:
    """The audit log filter: one entry per area, filtering on the codes' prefix."""
    return [(f"{code}.", str(label)) for code, label in AREAS.items()]


def object_label(object_type: str, object_id: str) -> str:
    """`funding.campaign`, `7` → "raccolta n. 7" (the model's own Italian name)."""
    if not object_type:
        return ""
    try:
        name = str(apps.get_model(object_type)._meta.verbose_name)
    except (LookupError, ValueError):
        name = str(_("elemento"))
    return f"{name} n. {object_id}" if object_id else name


def channel_label(channel: str) -> str:
    return str(CHANNELS.get(channel, channel and _("altro canale")))
