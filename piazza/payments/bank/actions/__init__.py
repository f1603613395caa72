"""Every write of the bank rails (convention 1): keyword-only `actor`, one transaction, an audit
entry, side effects (emails) on commit, refusals through `refuse()` with a specific message.

Ledger postings (all idempotent by deterministic keys):
- transfer received:       Dr bank            / Cr destination (excess: Cr bank_unallocated)
- direct-debit settled:    Dr bank            / Cr destination, one transaction per collection
- direct-debit returned:   reversal of the collection's transaction
- bank charges:            Dr bank_charges    / Cr bank
- payout approved:         Dr source account  / Cr payouts_approved
- payout seen on statement: Dr payouts_approved / Cr bank

Topic modules (docs/adr/0015-actions-packages.md); import from them, not from this package:
  accounts: Bank accounts and payees.
  mandates: SEPA mandates.
  collections: SEPA direct-debit collections and batches.
  statements: Bank statement imports.
  matching: Matching statement lines to what they pay.
  payouts: Payouts from the treasury.
  _treasury: The treasury account, bank settings and the refusal helpers shared by every bank topic.
  _lines: Statement-line states shared by the import and the matching: locks, queue, matched marks, settlement.
"""
