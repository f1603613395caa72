import pytest
from django.db import IntegrityError

from piazza.people.models import Email, Person


@pytest.mark.django_db
def test_one_primary_email_per_person(tree):
    person = Person.objects.create(first_name="Mario", last_name="Rossi", territory=tree.bologna_centro)
    Email.objects.create(person=person, value="mario@example.org", primary=True)
    with pytest.raises(IntegrityError):
        Email.objects.create(person=person, value="altro@example.org", primary=True)
