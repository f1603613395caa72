"""Indexes at 1,000,000 people (issue 14). P5: consent rows by purpose in person order with the
grant flag (index-only semi/anti-joins); active people by territory and birth date, by id with
their territory (index-only scope checks), and by territory in list order (a circolo page). P6:
the exact-name index on an expression the GiST trigram index cannot take over."""

import django.db.models.functions.text
from django.conf import settings
from django.db import migrations, models


class Migration(migrations.Migration):

    dependencies = [
        ('people', '0011_person_source_petition'),
        ('territory', '0004_comune_name_upper_index'),
        migrations.swappable_dependency(settings.AUTH_USER_MODEL),
    ]

    operations = [
        migrations.RemoveIndex(
            model_name='person',
            name='person_search_name',
        ),
        migrations.AddIndex(
            model_name='consent',
            index=models.Index(fields=['purpose', 'person', 'at', 'id'], include=('granted',), name='consent_purpose_person'),
        ),
        migrations.AddIndex(
            model_name='person',
            index=models.Index(django.db.models.functions.text.Lower('search_name'), condition=models.Q(('erased_at__isnull', True), ('merged_into__isnull', True)), name='person_search_name_exact'),
        ),
        migrations.AddIndex(
            model_name='person',
            index=models.Index(condition=models.Q(('erased_at__isnull', True), ('merged_into__isnull', True)), fields=['territory', 'birth_date'], include=('id',), name='person_territory_birth'),
        ),
        migrations.AddIndex(
            model_name='person',
            index=models.Index(condition=models.Q(('erased_at__isnull', True), ('merged_into__isnull', True)), fields=['id'], include=('territory',), name='person_active_territory'),
        ),
        migrations.AddIndex(
            model_name='person',
            index=models.Index(condition=models.Q(('erased_at__isnull', True), ('merged_into__isnull', True)), fields=['territory', 'last_name', 'first_name', 'id'], name='person_active_territory_name'),
        ),
    ]
