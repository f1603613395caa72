"""Demo content: the territorial tree, demo officials with 2FA ready, and each app's demo data."""

from __future__ import annotations

from typing import Any

from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django_otp.plugins.otp_static.models import StaticDevice
from django_otp.plugins.otp_totp.models import TOTPDevice

from piazza.territory.loading import load_territory
from piazza.territory.models import Comune, Kind, Level, Role, RoleAssignment, Territory

DEMO_PASSWORD = "piazza-demo-2026"
# A fixed TOTP secret (hex) so the printed key can be typed into any authenticator app.
DEMO_TOTP_KEY = "3132333435363738393031323334353637383930"
DEMO_BACKUP_CODES = ["demo1111", "demo2222", "demo3333", "demo4444", "demo5555"]


def _user(username: str, first: str, last: str, **extra: Any) -> Any:
    model = get_user_model()
    user = model.objects.filter(username=username).first()
    if user is None:
        user = model.objects.create_user(
            username=username, password=DEMO_PASSWORD, first_name=first, last_name=last, **extra
        )
    TOTPDevice.objects.get_or_create(user=user, name="demo", defaults={"key": DEMO_TOTP_KEY, "confirmed": True})
    static, _ = StaticDevice.objects.get_or_create(user=user, name="backup")
    static.token_set.all().delete()
    for code in DEMO_BACKUP_CODES:
        static.token_set.create(token=code)
    return user


def _role(user: Any, territory: Territory, role: str) -> None:
    RoleAssignment.objects.get_or_create(user=user, territory=territory, role=role, revoked_at=None)


def _circolo(parent: Territory, name: str, kind: str, comuni: list[str]) -> Territory:
    node = Territory.objects.filter(parent=parent, name=name).first()
    if node is None:
        node = Territory(parent=parent, level=Level.CIRCOLO, kind=kind, name=name)
        node.save()
        node.comuni.set(Comune.objects.filter(istat_code__in=comuni))
    return node


class Command(BaseCommand):
    help = "Load demo data: territory, demo officials, and demo content of every app."

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--people", type=int, default=300, help="How many demo people to create.")

    def handle(self, *args: Any, **options: Any) -> None:
        if not Comune.objects.exists():
            load_territory()
        with transaction.atomic():
            national = Territory.objects.get(level=Level.NATIONAL)
            bologna = Territory.objects.get(level=Level.FEDERATION, code="037")
            centro = _circolo(bologna, "Circolo PD Bologna Centro", Kind.TERRITORIAL, ["037006"])
            _circolo(bologna, "Circolo PD Bologna Navile", Kind.TERRITORIAL, ["037006"])
            _circolo(bologna, "Circolo PD Casalecchio", Kind.TERRITORIAL, ["037011"])
            _circolo(bologna, "Circolo online Emilia-Romagna", Kind.ONLINE, [])
            admin = _user("nazionale", "Elena", "Ferri", is_staff=True)
            _role(admin, national, Role.ADMINISTRATOR)
            secretary = _user("segretario", "Marco", "Bianchi")
            for role in (Role.ORGANISATION, Role.MEMBERSHIP, Role.TREASURY):
                _role(secretary, centro, role)
            treasurer = _user("tesoriera", "Anna", "Russo")
            _role(treasurer, bologna, Role.TREASURY)
            # A second treasurer of the same federation: payouts need two (four eyes).
            deputy = _user("vicetesoriere", "Giorgio", "Conti")
            _role(deputy, bologna, Role.TREASURY)
            # The national treasurer publishes the donor register (rules F1, F14: one per party).
            national_treasurer = _user("tesoreria", "Paola", "Greco")
            _role(national_treasurer, national, Role.TREASURY)
        from piazza.web.demo import seed_apps

        seed_apps(people=options["people"], stdout=self.stdout)
        self.stdout.write(self.style.SUCCESS("\nDati dimostrativi pronti / demo data ready.\n"))
        self.stdout.write(
            "Accessi demo (password «{password}»; secondo fattore: uno dei codici di riserva {codes},\n"
            "oppure la chiave TOTP {key} in un'app di autenticazione):\n"
            "  amministrazione nazionale: nazionale\n"
            "  segretario del Circolo PD Bologna Centro: segretario\n"
            "  tesoriera della Federazione di Bologna: tesoriera\n"
            "  secondo tesoriere della Federazione di Bologna (approva i versamenti chiesti da tesoriera): "
            "vicetesoriere\n"
            "  tesoreria nazionale (registro dei contributi): tesoreria\n".format(
                password=DEMO_PASSWORD, codes=", ".join(DEMO_BACKUP_CODES), key=_b32(DEMO_TOTP_KEY)
            )
        )


def _b32(hex_key: str) -> str:
    import base64

    return base64.b32encode(bytes.fromhex(hex_key)).decode().rstrip("=")
