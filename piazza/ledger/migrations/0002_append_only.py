"""Ledger history is append-only in the database itself (convention 8)."""

from django.db import migrations

from piazza.core.db import append_only


class Migration(migrations.Migration):
    dependencies = [("ledger", "0001_initial")]

    operations = [
        append_only("ledger_ledgertransaction"),
        append_only("ledger_entry"),
    ]
