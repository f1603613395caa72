"""ISO 20022 return reason codes of SEPA R-transactions, in plain words, with what we do next.

When a direct debit comes back the treasurer and the debtor are told *why* in words they
understand, and the retry rule follows from the reason: money missing today may be there in
a week (AM04: retry), a closed account or a refusal never comes back by retrying.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _


class MandateEffect(StrEnum):
    NONE = "none"
    SUSPEND = "suspend"  # the account details must be corrected (amend the mandate) before the next debit
    REVOKE = "revoke"  # the mandate is no longer valid


@dataclass(frozen=True)
class ReturnReason:
    code: str
    treasurer: Promise  # what happened, for the treasurer
    debtor: Promise  # what happened and what to do, for the person debited
    retry: bool
    mandate_effect: MandateEffect = MandateEffect.NONE

    @property
    def debtor_text(self) -> str:
        """The debtor's message, with how to give a new IBAN when the account must change."""
        if self.mandate_effect == MandateEffect.SUSPEND:
            return f"{self.debtor} {_FIX_IBAN}"
        return str(self.debtor)


_R = ReturnReason
_FIX_IBAN = _("Se vuoi continuare a contribuire, comunicaci il nuovo IBAN dalla tua area personale o al tuo circolo.")

REASONS: dict[str, ReturnReason] = {
    r.code: r
    for r in [
        _R(
            "AC01",
            _("IBAN del debitore errato"),
            _("La tua banca ci dice che l'IBAN indicato non è corretto."),
            False,
            MandateEffect.SUSPEND,
        ),
        _R(
            "AC04",
            _("Conto del debitore chiuso"),
            _("La tua banca ci dice che il conto è stato chiuso."),
            False,
            MandateEffect.SUSPEND,
        ),
        _R(
            "AC06",
            _("Conto del debitore bloccato"),
            _("La tua banca ha bloccato il conto o gli addebiti diretti su di esso."),
            False,
            MandateEffect.SUSPEND,
        ),
        _R(
            "AC13",
            _("Tipo di conto non valido per l'addebito"),
            _("Il conto indicato non accetta addebiti SEPA per consumatori."),
            False,
            MandateEffect.SUSPEND,
        ),
        _R(
            "AG01",
            _("Addebiti diretti non consentiti su questo conto"),
            _("Sul tuo conto non sono ammessi addebiti diretti."),
            False,
            MandateEffect.SUSPEND,
        ),
        _R(
            "AM04",
            _("Fondi insufficienti"),
            _(
                "L'addebito non è andato a buon fine per fondi insufficienti. "
                "Lo riproveremo automaticamente tra qualche giorno; non devi fare nulla."
            ),
            True,
        ),
        _R(
            "AM05",
            _("Addebito duplicato"),
            _("La banca ha respinto un addebito doppio: nessun importo ti è stato tolto due volte."),
            False,
        ),
        _R(
            "MD01",
            _("Mandato inesistente o revocato presso la banca del debitore"),
            _(
                "La tua banca non riconosce l'autorizzazione all'addebito (mandato). Se vuoi continuare a contribuire, "
                "firma un nuovo mandato."
            ),
            False,
            MandateEffect.REVOKE,
        ),
        _R(
            "MD02",
            _("Dati del mandato incompleti"),
            _("Mancano dei dati nell'autorizzazione all'addebito: ti contatteremo per completarla."),
            False,
            MandateEffect.SUSPEND,
        ),
        _R(
            "MD06",
            _("Rimborso chiesto dal debitore"),
            _(
                "Hai chiesto alla tua banca il rimborso dell'addebito: è stato registrato. Se è stato un errore, "
                "contattaci."
            ),
            False,
        ),
        _R("MD07", _("Debitore deceduto"), _("L'addebito è stato annullato."), False, MandateEffect.REVOKE),
        _R(
            "MS02",
            _("Addebito rifiutato dal debitore"),
            _(
                "Hai rifiutato l'addebito presso la tua banca: non lo riproveremo. Se vuoi sospendere o annullare il "
                "contributo puoi farlo dall'area personale."
            ),
            False,
        ),
        _R(
            "MS03",
            _("Addebito respinto dalla banca senza motivo specificato"),
            _(
                "La banca ha respinto l'addebito senza indicare il motivo. Lo riproveremo una volta; se si ripete, "
                "verifica con la tua banca."
            ),
            True,
        ),
        _R(
            "RC01",
            _("Codice BIC della banca errato"),
            _("I dati della tua banca non sono corretti."),
            False,
            MandateEffect.SUSPEND,
        ),
        _R(
            "RR01",
            _("Dati del debitore mancanti per norme antiriciclaggio"),
            _("La banca ha chiesto dati aggiuntivi: ti contatteremo."),
            False,
        ),
        _R(
            "SL01",
            _("La banca del debitore blocca gli addebiti di questo creditore"),
            _("Hai chiesto alla tua banca di bloccare i nostri addebiti: non li riproveremo."),
            False,
            MandateEffect.REVOKE,
        ),
        _R(
            "FF01",
            _("Errore tecnico nel file inviato alla banca"),
            _("Un errore tecnico ha impedito l'addebito: lo ripeteremo, non devi fare nulla."),
            True,
        ),
    ]
}

UNKNOWN = _R(
    "",
    _("Motivo non indicato dalla banca"),
    _("La banca ha respinto l'addebito senza indicare il motivo. Ti contatteremo se serve."),
    False,
)


def reason_for(code: str) -> ReturnReason:
    """The known reason, or a generic one carrying the code (never retried blindly)."""
    reason = REASONS.get((code or "").strip().upper())
    if reason is not None:
        return reason
    return ReturnReason(code=(code or "").upper(), treasurer=UNKNOWN.treasurer, debtor=UNKNOWN.debtor, retry=False)
