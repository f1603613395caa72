"""Payment events are history: the database refuses UPDATE and DELETE (convention 7)."""

from django.db import migrations

from piazza.core.db import append_only


class Migration(migrations.Migration):
    dependencies = [("payments", "0001_initial")]

    operations = [append_only("payments_paymentevent")]
