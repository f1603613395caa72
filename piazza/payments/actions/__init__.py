"""Every write to payments (convention 1), and the orchestration around provider calls.

The rule of convention 5: a provider is called **outside** any database transaction; its
answer is then applied by an action that locks the payment row (`select_for_update`) and
makes only allowed transitions. Applying the same answer twice (a webhook racing the browser's
return, a replayed event, two recurring runs) changes nothing the second time: transitions
are checked under the lock and every ledger booking has a deterministic idempotency key.

Topic modules (docs/adr/0015-actions-packages.md); import from them, not from this package:
  lifecycle: Payments and their attempts: creation, charging, results, cancellation (the state machine).
  sync: Reconciling a payment with its provider.
  refunds: Refunds and disputes.
  recurring: Recurring schedules and charges on saved methods.
  devices: Remembered devices and payer links.
  _transitions: The payment state machine's primitives: events, allowed transitions, row locks.
  outcomes: What a charge's result does to its payment: success, failure, duplicate charges, the schedule's next
      step.
  reversals: Refunds and disputes applied to a payment's state.
  method_change: Changing the card of a recurring schedule (a card setup, no charge; the old method forgotten).
  methods: Which payment methods a territory accepts, and checks of approved instruments.
"""
