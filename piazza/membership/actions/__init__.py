"""Every write of the membership app (convention 1): one transaction, an audit entry, refusals
that say what to do, side effects on commit.

Rules cited: M1–M24 (DOMAIN.md). Parameters that are open or per-federation come from
`rules_for(territory)` and `FeeSchedule`, never from constants.

Topic modules (docs/adr/0015-actions-packages.md); import from them, not from this package:
  parameters: Fee schedules, regional surcharges and membership rules set by officials (M5, M6).
  join: Applying to join: eligibility, the application, its cancellation (M1-M4).
  payment: A membership fee paid: at the circolo desk (paper forms, receipts), online, by yearly debit; refunds;
      scans of the receipt.
  card: Membership cards: delivery, blocks.
  transfer: Transfers between circoli and the voting circolo.
  objection: Objections to a membership and appeals.
  roll: Congresses and their rolls: computing, signing off, votes.
  renewal: Yearly renewal: campaigns, reminders, tokens, the renewal itself.
  review: Anomaly signals and their review.
  albo: Supporters and the register of voters (albo) for open elections.
  applicant: The person behind an application or an albo registration: their data, its checks, their record.
  _guards: Who may act, and how a refusal of several fields is written; shared by every membership topic.
"""
