"""OSDI resources in their own modules, each a ninja `Router` that `piazza.api.v1` mounts at its end.

Importing v1 first keeps the import cycle (these modules use v1's helpers, v1 mounts their
routers) in one order whichever module a caller — the webhooks, a task — imports first.
"""

from piazza.api import v1 as v1
