"""Privacy (rule G5, issue 12): the models of the data-rights features."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

# --- Erasure: legal holds and erasure requests (piazza.privacy.erasure) --------------------------


class LegalHold(models.Model):
    """What the law keeps of an erased person: which columns of which rows, why, on what legal
    basis and until when. `privacy.tasks.release_expired_holds` erases them when it ends."""

    person_ref = models.CharField(_("riferimento pseudonimo"), max_length=20, db_index=True)
    kind = models.CharField(_("tipo"), max_length=30)
    model_label = models.CharField(max_length=80)
    object_ids = models.JSONField(default=list)
    fields = models.JSONField(default=list)
    why = models.CharField(_("motivo"), max_length=200)
    legal_basis = models.CharField(_("base giuridica"), max_length=300)
    until = models.DateField(_("fino al"), db_index=True)
    created_at = models.DateTimeField(default=timezone.now)
    released_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["until", "id"]
        verbose_name = _("conservazione per obbligo di legge")
        verbose_name_plural = _("conservazioni per obbligo di legge")

    def __str__(self) -> str:
        return f"{self.person_ref} {self.kind} → {self.until}"


class ErasureRequestStatus(models.TextChoices):
    OPEN = "open", _("Da eseguire")
    DONE = "done", _("Eseguita")


class ErasureRequest(models.Model):
    """A person's request to be erased (self-service or received on paper): the privacy officer
    executes it. Minimal stand-in until the data-rights request board lands (helper "rights")."""

    person = models.ForeignKey("people.Person", on_delete=models.PROTECT, related_name="+")
    person_ref = models.CharField(max_length=20)
    via = models.CharField(max_length=20)  # self / official
    status = models.CharField(max_length=10, choices=ErasureRequestStatus.choices, default=ErasureRequestStatus.OPEN)
    requested_at = models.DateTimeField(default=timezone.now)
    done_at = models.DateTimeField(null=True, blank=True)
    done_by = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT,
                                related_name="+")

    class Meta:
        ordering = ["status", "requested_at"]
        verbose_name = _("richiesta di cancellazione")
        verbose_name_plural = _("richieste di cancellazione")

    def __str__(self) -> str:
        return f"{self.person_ref} ({self.get_status_display()})"
