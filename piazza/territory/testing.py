"""pytest fixtures shared by every app: the real territorial tree and 2FA-verified officials."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from piazza.territory.loading import load_territory
from piazza.territory.models import Comune, Kind, Level, Role, RoleAssignment, Territory


@dataclass
class Tree:
    national: Territory
    emilia: Territory
    bologna: Territory  # federation
    bologna_centro: Territory  # circolo
    bologna_navile: Territory  # circolo
    modena: Territory  # federation
    modena_nord: Territory  # circolo
    lombardia: Territory
    milano: Territory  # federation
    online: Territory  # online circolo under Bologna


def _circolo(parent: Territory, name: str, kind: str = Kind.TERRITORIAL, comuni: tuple[str, ...] = ()) -> Territory:
    node = Territory.objects.filter(parent=parent, name=name).first()
    if node is None:
        node = Territory(parent=parent, level=Level.CIRCOLO, kind=kind, name=name)
        node.save()
        if comuni:
            node.comuni.set(Comune.objects.filter(istat_code__in=comuni))
    return node


def build_tree() -> Tree:
    if not Comune.objects.exists():
        load_territory()
    national = Territory.objects.get(level=Level.NATIONAL)
    emilia = Territory.objects.get(level=Level.REGION, code="08")
    bologna = Territory.objects.get(level=Level.FEDERATION, code="037")
    modena = Territory.objects.get(level=Level.FEDERATION, code="036")
    lombardia = Territory.objects.get(level=Level.REGION, code="03")
    milano = Territory.objects.get(level=Level.FEDERATION, code="015")
    return Tree(
        national=national,
        emilia=emilia,
        bologna=bologna,
        bologna_centro=_circolo(bologna, "Circolo PD Bologna Centro", comuni=("037006",)),
        bologna_navile=_circolo(bologna, "Circolo PD Bologna Navile", comuni=("037006",)),
        modena=modena,
        modena_nord=_circolo(modena, "Circolo PD Modena Nord", comuni=("036023",)),
        lombardia=lombardia,
        milano=milano,
        online=_circolo(bologna, "Circolo online Bologna", kind=Kind.ONLINE),
    )


@pytest.fixture
def tree(db: None) -> Tree:
    return build_tree()


def make_official(username: str, territory: Territory, roles: list[str] | None = None, **extra: Any) -> Any:
    user = get_user_model().objects.create_user(username=username, password="correct-horse-battery", **extra)
    for role in roles or [Role.ORGANISATION]:
        RoleAssignment.objects.create(user=user, territory=territory, role=role)
    return user


def verified_client(user: Any, client: Client | None = None) -> Client:
    """A test client logged in as `user` with a confirmed TOTP device, as after a real 2FA step."""
    client = client or Client()
    device = TOTPDevice.objects.filter(user=user, confirmed=True).first()
    if device is None:
        device = TOTPDevice.objects.create(user=user, name="test", confirmed=True)
    client.force_login(user)
    session = client.session
    session["otp_device_id"] = device.persistent_id
    session.save()
    return client


@pytest.fixture
def national_admin(tree: Tree) -> Any:
    return make_official("nazionale", tree.national, [Role.ADMINISTRATOR], is_staff=True)


@pytest.fixture
def circolo_secretary(tree: Tree) -> Any:
    return make_official("segretario.centro", tree.bologna_centro, [Role.ORGANISATION, Role.MEMBERSHIP, Role.TREASURY])


@pytest.fixture(scope="session")
def django_db_setup(django_db_setup: None, django_db_blocker: Any) -> None:
    """Load the ISTAT tree once per test database; tests roll back their own changes on top, and a test
    that flushes the database gets the tree and the seeded rows back (piazza/core/testing_isolation.py)."""
    from django.db import connection

    from piazza.core.db import allow_purge_for_tests
    from piazza.core.testing_isolation import reseed_after_every_flush

    with django_db_blocker.unblock():
        allow_purge_for_tests(connection)
        load_territory()
    reseed_after_every_flush()
