"""Rule G5 declarations (piazza.core.erasure): the ledger is append-only and names no donor.

Accounts belong to territories, campaigns and pools; memos say what moved ("Pagamento #12: …"),
never who. Erasure never touches the ledger, so it still balances (`check_ledger`).
"""

from __future__ import annotations

from piazza.core.erasure import Declaration
from piazza.ledger.models import Account

ERASURE: Declaration = {}
NOT_PERSONAL: Declaration = {Account: {"name": "the name of a territory's, campaign's or pool's account"}}
