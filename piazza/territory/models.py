"""The party's organisational tree (rules M10, M19, M20), ISTAT comuni (D2) and officials' roles.

A territory's subtree is found by its materialised `path` ("/1/7/42/"): one indexed prefix
query, whatever the depth, so scoping every query by subtree stays cheap.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.db.models.functions import Upper
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from piazza.territory.scoping import ScopedQuerySet


class Level(models.TextChoices):
    NATIONAL = "national", _("Nazionale")
    REGION = "region", _("Unione regionale")
    FEDERATION = "federation", _("Federazione")
    CIRCOLO = "circolo", _("Circolo")


LEVEL_ORDER = [Level.NATIONAL, Level.REGION, Level.FEDERATION, Level.CIRCOLO]


class Kind(models.TextChoices):
    """What a node is within its level. Circolo kinds are those of rule M10."""

    NATIONAL = "national", _("Nazionale")
    REGION = "region", _("Unione regionale")
    PROVINCIAL_UNION = "provincial_union", _("Unione provinciale (Trento, Bolzano)")
    ABROAD = "abroad", _("Circoscrizione Estero")
    PROVINCIAL = "provincial", _("Federazione provinciale")
    METROPOLITAN = "metropolitan", _("Federazione metropolitana")
    ABROAD_AREA = "abroad_area", _("Area della Circoscrizione Estero")
    TERRITORIAL = "territorial", _("Circolo territoriale")
    THEMATIC = "thematic", _("Circolo tematico")
    WORKPLACE = "workplace", _("Circolo d'ambiente (lavoro o studio)")
    ONLINE = "online", _("Circolo online")
    PUNTO_PD = "punto_pd", _("Punto PD")
    CIRCOLO_ABROAD = "circolo_abroad", _("Circolo all'estero")


KINDS_BY_LEVEL: dict[str, set[str]] = {
    Level.NATIONAL: {Kind.NATIONAL},
    Level.REGION: {Kind.REGION, Kind.PROVINCIAL_UNION, Kind.ABROAD},
    Level.FEDERATION: {Kind.PROVINCIAL, Kind.METROPOLITAN, Kind.ABROAD_AREA},
    Level.CIRCOLO: {
        Kind.TERRITORIAL,
        Kind.THEMATIC,
        Kind.WORKPLACE,
        Kind.ONLINE,
        Kind.PUNTO_PD,
        Kind.CIRCOLO_ABROAD,
    },
}

# Rule M10: these circoli can be joined regardless of residence.
OPEN_TO_ALL_KINDS = {Kind.THEMATIC, Kind.WORKPLACE, Kind.ONLINE, Kind.PUNTO_PD}


class Comune(models.Model):
    """One comune of the ISTAT list (rule D2), loaded from data/istat by `load_territory`."""

    istat_code = models.CharField(max_length=6, unique=True)
    name = models.CharField(max_length=120, db_index=True)
    belfiore = models.CharField(max_length=4, db_index=True)
    province_code = models.CharField(max_length=3)
    province_name = models.CharField(max_length=80)
    province_sigla = models.CharField(max_length=2)
    region_code = models.CharField(max_length=2)
    region_name = models.CharField(max_length=80)
    population = models.PositiveIntegerField(default=0)
    valid_from = models.DateField(null=True, blank=True)
    valid_to = models.DateField(null=True, blank=True)
    federation = models.ForeignKey(
        "Territory", null=True, blank=True, on_delete=models.PROTECT, related_name="comuni_served"
    )
    # A comune merged into another (fusione, incorporazione) keeps its row, so people born or living
    # there keep their comune; the successor is where its territory went (rule D2).
    successor = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="predecessors")

    class Meta:
        ordering = ["name"]
        verbose_name = _("comune")
        verbose_name_plural = _("comuni")
        # Forms look a comune up by its typed name (`name__iexact`, UPPER(name) = UPPER(%s) on
        # PostgreSQL): without this index every donation and join POST scanned all the comuni.
        indexes = [models.Index(Upper("name"), name="comune_name_upper")]

    def __str__(self) -> str:
        return f"{self.name} ({self.province_sigla})"

    def current(self) -> Comune:
        """The comune in force today that this one became (itself if it still exists)."""
        comune, seen = self, {self.pk}
        while comune.successor_id is not None and comune.successor_id not in seen:
            seen.add(comune.successor_id)
            comune = comune.successor  # type: ignore[assignment]
        return comune


class TerritoryQuerySet(ScopedQuerySet):
    scope_path_field = "path"

    def open(self) -> TerritoryQuerySet:
        return self.filter(closed_at__isnull=True)

    def subtree_of(self, territory: Territory) -> TerritoryQuerySet:
        return self.filter(path__startswith=territory.path)


class Territory(models.Model):
    level = models.CharField(max_length=12, choices=Level.choices)
    kind = models.CharField(max_length=20, choices=Kind.choices)
    name = models.CharField(_("nome"), max_length=150)
    code = models.CharField(max_length=20, blank=True, help_text=_("Codice ISTAT della regione o provincia, se c'è"))
    parent = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="children")
    path = models.CharField(max_length=255, unique=True, editable=False)
    depth = models.PositiveSmallIntegerField(default=0, editable=False)
    comuni = models.ManyToManyField(
        Comune,
        blank=True,
        related_name="circoli",
        help_text=_("Comuni coperti da un circolo territoriale"),
    )
    closed_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now, editable=False)

    objects = TerritoryQuerySet.as_manager()

    class Meta:
        ordering = ["path"]
        verbose_name = _("territorio")
        verbose_name_plural = _("territori")
        constraints = [
            models.UniqueConstraint(fields=["parent", "name"], name="territory_unique_name"),
            models.UniqueConstraint(fields=["level"], condition=Q(level="national"), name="territory_one_national"),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def is_open(self) -> bool:
        return self.closed_at is None

    def ancestors(self) -> models.QuerySet[Territory]:
        ids = [int(part) for part in self.path.strip("/").split("/") if part]
        return Territory.objects.filter(pk__in=ids).order_by("depth")

    def is_within(self, other: Territory) -> bool:
        return self.path.startswith(other.path)

    def ancestor_at(self, level: str) -> Territory | None:
        return self.ancestors().filter(level=level).first()

    def save(self, *args: Any, **kwargs: Any) -> None:
        """Paths need the primary key, so a new node is saved twice inside one transaction."""
        if not self.path:
            self.path = f"/new-{timezone.now().timestamp()}-{id(self)}/"
            super().save(*args, **kwargs)
            prefix = self.parent.path if self.parent else "/"
            self.path = f"{prefix}{self.pk}/"
            self.depth = self.path.count("/") - 2
            kwargs.pop("force_insert", None)
            super().save(update_fields=["path", "depth"])
            return
        super().save(*args, **kwargs)


class Role(models.TextChoices):
    ORGANISATION = "organisation", _("Organizzazione")
    TREASURY = "treasury", _("Tesoreria")
    MEMBERSHIP = "membership", _("Tesseramento")
    COMMUNICATION = "communication", _("Comunicazione")
    GUARANTEE = "guarantee", _("Commissione di garanzia")
    ADMINISTRATOR = "administrator", _("Amministrazione")
    # Rule G5: the national privacy officer answers data-subject requests (only at national level).
    PRIVACY_OFFICER = "privacy_officer", _("Responsabile privacy")


# Who may manage the tree and assign roles below their node.
MANAGER_ROLES = {Role.ADMINISTRATOR, Role.ORGANISATION}


class RoleAssignmentQuerySet(ScopedQuerySet):
    scope_path_field = "territory__path"

    def active(self) -> RoleAssignmentQuerySet:
        return self.filter(revoked_at__isnull=True)


class RoleAssignment(models.Model):
    """An official's role at a node; it applies to the node's whole subtree."""

    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="role_assignments")
    territory = models.ForeignKey(Territory, on_delete=models.PROTECT, related_name="roles")
    role = models.CharField(max_length=20, choices=Role.choices)
    granted_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    granted_at = models.DateTimeField(default=timezone.now)
    revoked_at = models.DateTimeField(null=True, blank=True)

    objects = RoleAssignmentQuerySet.as_manager()

    class Meta:
        ordering = ["territory__path", "role"]
        constraints = [
            models.UniqueConstraint(
                fields=["user", "territory", "role"],
                condition=Q(revoked_at__isnull=True),
                name="role_assignment_unique_active",
            )
        ]

    def __str__(self) -> str:
        return f"{self.user} · {self.get_role_display()} · {self.territory}"
