"""Signed outgoing webhooks (issue 16, part 2; docs/adr/0027-outgoing-webhooks.md).

An action that causes an event announces it (`piazza.core.outbound.announce`) inside its own
transaction; `emit` writes an outbox row only when an active subscription could want it (the
(event, path) set lives in the shared cache, so with no subscriber the cost is zero SQL
statements). After the commit the worker fans the row out into one delivery per subscription
that may see the object (its owner's roles cut down to its node, like an API key), renders the
OSDI representation within the subscription's permissions, and posts it signed.
"""
