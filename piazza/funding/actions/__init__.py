"""Every write of the funding app (convention 1).

Campaigns: create, edit, the approval workflow, budget lines, images, updates, FAQ, splits,
team. Donations: submission, payment outcomes, matching, refunds, settlement (further down).

Workflow: draft → submitted → approved (by an official of the level above) or rejected with
a reason (back to editable) → live → ended → settled.

Topic modules (docs/adr/0015-actions-packages.md); import from them, not from this package:
  permissions: Who may manage, approve and author campaigns.
  campaigns: Campaigns: creation, editing, approval, launch, content.
  donations: Donations: submission, matching preview, outcomes.
  monthly: Monthly donations.
  closing: Ending and settling campaigns.
  pools: Matching pools and fundraising pages.
  _pool_funds: Matching-pool ledger accounts, released reservations and campaign counters; shared by donations,
      closing and pools.
"""
