"""What payers read when a charge does not go through: clear, specific, in their language."""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

DECLINE_MESSAGES: dict[str, Promise] = {
    "card_declined": _("Questa carta è stata rifiutata dalla banca. Prova un'altra carta o il bonifico."),
    "insufficient_funds": _("Sulla carta non ci sono fondi sufficienti. Prova un'altra carta o il bonifico."),
    "authentication_failed": _(
        "La verifica della banca (3-D Secure) non è andata a buon fine. Riprova o usa un'altra carta."
    ),
    "authentication_required": _("La banca chiede di confermare il pagamento: riprova dalla pagina di pagamento."),
    "expired_card": _("Questa carta è scaduta. Prova un'altra carta o il bonifico."),
    "incorrect_cvc": _("Il codice di sicurezza (CVC) non è corretto. Controllalo sul retro della carta."),
    "invalid_number": _("Il numero della carta non è valido. Controlla le cifre e riprova."),
    "processing_error": _(
        "Il circuito di pagamento non ha risposto. Non ti è stato addebitato nulla due volte: "
        "controlleremo l'esito e ti scriveremo."
    ),
    "payer_action_required": _("Completa l'approvazione sul sito del circuito di pagamento, poi torna qui."),
    "canceled": _("Il pagamento è stato annullato. Puoi riprovare quando vuoi."),
    "instrument_refused": _(
        "Questo mezzo di pagamento non è accettato per questo pagamento e non ti è stato "
        "addebitato nulla: usa un'altra carta o un altro metodo."
    ),
}


def decline_message(code: str) -> Promise:
    return DECLINE_MESSAGES.get(code, DECLINE_MESSAGES["card_declined"])
