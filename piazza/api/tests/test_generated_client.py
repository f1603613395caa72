"""Issue 16, "done when": a client generated from the OpenAPI schema by a real generator
(openapi-python-client, ADR 0026) lists people and records a petition signature with a
federation's key, against a live server. The client is generated at test time from
`api.get_openapi_schema()`, so a schema a generator cannot use fails here."""

from __future__ import annotations

import importlib
import importlib.util
import json
import subprocess
import sys
from typing import Any

import pytest

from piazza.api.models import Permission
from piazza.api.v1 import api
from piazza.people.actions.notices import ensure_default_notices
from piazza.petitions.actions import create_petition
from piazza.petitions.models import Signature
from piazza.territory.models import Role
from piazza.territory.testing import make_official

from .conftest import make_person

pytestmark = pytest.mark.django_db(transaction=True)
PACKAGE = "piazza_osdi_client"


@pytest.fixture
def generated_client(tmp_path: Any) -> Any:
    """The client package generated from the schema into `tmp_path`, imported."""
    if importlib.util.find_spec("openapi_python_client") is None:
        pytest.skip("openapi-python-client is not installed: `make install` installs requirements.lock")
    schema = tmp_path / "openapi.json"
    schema.write_text(json.dumps(api.get_openapi_schema()))
    config = tmp_path / "generator.json"
    config.write_text(json.dumps({"post_hooks": [], "package_name_override": PACKAGE}))
    command = [sys.executable, "-m", "openapi_python_client", "generate", "--meta", "none"]
    command += ["--path", str(schema), "--output-path", str(tmp_path / PACKAGE), "--config", str(config)]
    done = subprocess.run(command, capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "Warning" not in done.stdout + done.stderr, done.stdout + done.stderr
    sys.path.insert(0, str(tmp_path))
    try:
        yield importlib.import_module(PACKAGE)
    finally:
        sys.path.remove(str(tmp_path))
        for name in [n for n in sys.modules if n == PACKAGE or n.startswith(f"{PACKAGE}.")]:
            del sys.modules[name]


def test_a_generated_client_lists_people_and_signs_a_petition_with_a_federations_key(
    generated_client: Any, live_server: Any, tree: Any, make_key: Any
) -> None:
    ensure_default_notices()
    inside = {
        make_person(tree.bologna_centro, "Anna", "Rossi", "anna@example.org"),
        make_person(tree.bologna_navile, "Bruno", "Bianchi", "bruno@example.org"),
        make_person(tree.online, "Olga", "Online", "olga@example.org"),
    }
    make_person(tree.modena_nord, "Carla", "Verdi", "carla@example.org")
    make_person(tree.milano, "Dario", "Neri", "dario@example.org")
    official = make_official("federazione.bologna", tree.bologna, [Role.ORGANISATION, Role.COMMUNICATION])
    petition = create_petition(
        actor=official, territory=tree.bologna, title="Più autobus notturni", text="Più corse.", target="Sindaco"
    )
    _, token = make_key(official, tree.bologna, [Permission.READ_PEOPLE, Permission.WRITE_PETITIONS])

    client_module = importlib.import_module(f"{PACKAGE}.client")
    models = importlib.import_module(f"{PACKAGE}.models")
    list_people = importlib.import_module(f"{PACKAGE}.api.people.piazza_api_v1_list_people")
    record_signature = importlib.import_module(f"{PACKAGE}.api.petitions.piazza_api_osdi_petitions_record_signature")
    client = client_module.AuthenticatedClient(base_url=live_server.url, token=token)

    page = list_people.sync(client=client, per_page=100)
    assert isinstance(page, models.PeoplePage), page
    listed = {i for person in page.field_embedded.osdipeople for i in person.identifiers}
    assert listed == {f"piazza:person-{p.pk}" for p in inside}
    assert page.total_records == len(inside)

    body = models.SignatureHelper(
        person=models.InPerson(
            given_name="Giulia",
            family_name="Galli",
            email_addresses=[models.InEmail(address="giulia.galli@example.org")],
            postal_addresses=[models.InAddress(postal_code="40121", locality="Bologna")],
        ),
        piazzaconsents=models.SignatureHelperPiazzaConsents.from_dict({"political_communication": True}),
    )
    signed = record_signature.sync(client=client, petition_id=str(petition.pk), body=body)
    assert isinstance(signed, models.SignatureOut), signed
    signature = Signature.objects.get(petition=petition, email="giulia.galli@example.org")
    assert signed.identifiers == [f"piazza:signature-{signature.pk}"]
    assert signature.consents == ["political_communication"] and signature.person is not None

    # The generated error model carries the API's words: another federation's petition is not there.
    other = create_petition(
        actor=make_official("mo", tree.modena), territory=tree.modena, title="Altro", text="T", target="S"
    )
    refused = record_signature.sync(client=client, petition_id=str(other.pk), body=body)
    assert isinstance(refused, models.Error) and "non trovata" in refused.error
