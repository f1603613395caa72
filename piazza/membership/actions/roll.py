"""Congresses and their rolls: computing, signing off, votes."""

from __future__ import annotations

import datetime as dt
import hashlib
from dataclasses import dataclass
from typing import Any

from django.core.exceptions import ValidationError
from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from piazza.core.audit import record
from piazza.core.errors import refuse
from piazza.membership.models import (
    PAID_STATUSES,
    Congress,
    Membership,
    Roll,
    RollEntry,
    RollStatus,
    RollVote,
    Status,
    rules_for,
)
from piazza.territory.models import Kind, Level, Role, Territory
from piazza.territory.scoping import has_role_at

from ._guards import GUARANTEE_ROLES, MEMBERSHIP_ROLES

# --- Certified rolls (M16, M17, M22) ----------------------------------------------------


def create_congress(
    *,
    actor: Any,
    territory: Territory,
    name: str,
    cut_off: dt.datetime,
    membership_years: list[int],
    require_effective: bool = True,
) -> Congress:
    action = "membership.create_congress"
    if not has_role_at(actor, territory, {Role.ORGANISATION, Role.ADMINISTRATOR, Role.GUARANTEE}):
        refuse(
            action,
            _("Non hai un ruolo di organizzazione su %(t)s.") % {"t": territory},
            actor=actor,
            territory=territory,
            code="out_of_scope",
            permission=True,
        )
    if not name.strip() or not membership_years:
        refuse(
            action,
            _("Indica il nome del congresso e gli anni di tesseramento validi."),
            actor=actor,
            territory=territory,
            code="required",
            field="name",
        )
    with transaction.atomic():
        congress = Congress.objects.create(
            territory=territory,
            name=name.strip(),
            cut_off=cut_off,
            membership_years=sorted(membership_years),
            require_effective=require_effective,
            created_by=actor,
        )
        record(
            action,
            actor=actor,
            obj=congress,
            territory=territory,
            data={"cut_off": cut_off.isoformat(), "years": membership_years},
        )
    return congress


def roll_members(congress: Congress, circolo: Territory) -> list[Any]:
    """Memberships entering a roll (M16, M17, M22): paid by the cut-off (to the second, inclusive),
    effective by it when required, not cancelled or rejected; never an unpaid one.

    A congress may accept more than one membership year: a person paid up in two of them is
    one voter, entered with the membership of the latest year (one entry per person)."""
    qs = Membership.objects.filter(
        circolo=circolo,
        year__in=congress.membership_years,
        status__in=PAID_STATUSES,
        paid_at__isnull=False,
        paid_at__lte=congress.cut_off,
    )
    if congress.require_effective:
        qs = qs.filter(status=Status.EFFECTIVE, effective_at__lte=congress.cut_off)
    latest: dict[int, Membership] = {}
    for membership in qs.select_related("person").order_by("person_id", "-year", "-pk"):
        latest.setdefault(membership.person_id, membership)
    return sorted(latest.values(), key=lambda m: (m.person.last_name, m.person.first_name, m.pk))


def hash_entries(congress: Congress, circolo: Territory, entries: list[RollEntry]) -> str:
    digest = hashlib.sha256()
    # The cut-off in UTC, as read back from the database: a congress object still holding the local
    # time it was created with must give the same hash as one loaded afresh (the sign-off's).
    cut_off = congress.cut_off.astimezone(dt.UTC).isoformat()
    digest.update(f"{congress.pk}|{circolo.pk}|{cut_off}\n".encode())
    for line in sorted(entry.hash_line() for entry in entries):
        digest.update(line.encode() + b"\n")
    return digest.hexdigest()


def compute_roll(*, actor: Any, congress: Congress, circolo: Territory) -> Roll:
    """Freeze a new version of a circolo's roll; refused once a version is signed (M16)."""
    action = "membership.compute_roll"
    if not has_role_at(actor, circolo, MEMBERSHIP_ROLES | GUARANTEE_ROLES):
        refuse(
            action,
            _("Non hai un ruolo di tesseramento su %(t)s.") % {"t": circolo},
            actor=actor,
            territory=circolo,
            code="out_of_scope",
            permission=True,
        )
    if not circolo.is_within(congress.territory):
        refuse(
            action,
            _("Il %(c)s non partecipa a questo congresso.") % {"c": circolo},
            actor=actor,
            territory=circolo,
            code="outside_congress",
        )
    signed = (
        Roll.objects.filter(congress=congress, circolo=circolo)
        .exclude(status__in=[RollStatus.FROZEN, RollStatus.SUPERSEDED])
        .first()
    )
    if signed is not None:
        refuse(
            action,
            _(
                "L'anagrafe del %(c)s è già stata firmata (versione %(v)s, impronta %(h)s): non si può più "
                "modificare. Una correzione passa per la commissione di garanzia."
            )
            % {"c": circolo.name, "v": signed.version, "h": signed.content_hash[:12]},
            actor=actor,
            territory=circolo,
            code="roll_signed",
        )
    with transaction.atomic():
        previous = list(Roll.objects.select_for_update().filter(congress=congress, circolo=circolo))
        signed_now = [r for r in previous if r.status not in (RollStatus.FROZEN, RollStatus.SUPERSEDED)]
        if signed_now:  # signed by someone else meanwhile
            raise ValidationError(_("L'anagrafe è stata appena firmata: non si può più modificare."))
        version = max((r.version for r in previous), default=0) + 1
        Roll.objects.filter(congress=congress, circolo=circolo, status=RollStatus.FROZEN).update(
            status=RollStatus.SUPERSEDED
        )
        roll = Roll.objects.create(
            congress=congress, circolo=circolo, version=version, content_hash="", member_count=0, computed_by=actor
        )
        entries = [
            RollEntry(
                roll=roll,
                person=m.person,
                membership=m,
                card_number=m.card_number,
                last_name=m.person.last_name,
                first_name=m.person.first_name,
                birth_date=m.person.birth_date,
                paid_at=m.paid_at,
                effective_at=m.effective_at,
            )
            for m in roll_members(congress, circolo)
        ]
        RollEntry.objects.bulk_create(entries, batch_size=1000)
        roll.content_hash = hash_entries(congress, circolo, entries)
        roll.member_count = len(entries)
        roll.save(update_fields=["content_hash", "member_count"])
        record(
            action,
            actor=actor,
            obj=roll,
            territory=circolo,
            data={"version": version, "members": len(entries), "hash": roll.content_hash},
        )
    return roll


def verify_roll(roll: Roll) -> bool:
    """Recompute the content hash from the stored entries: True if nothing changed."""
    entries = list(roll.entries.all())
    return hash_entries(roll.congress, roll.circolo, entries) == roll.content_hash


@dataclass(frozen=True)
class MinimumCheck:
    """Rule M12 on one roll: `required` 0 means the circolo's kind has no minimum."""

    required: int
    counted: int
    message: str

    @property
    def met(self) -> bool:
        return self.counted >= self.required


def roll_minimum(roll: Roll) -> MinimumCheck:
    """Rule M12: an online circolo needs at least `min_members_online` members in its roll; a
    Punto PD at least `min_members_punto_pd` people of the same place, read as members resident
    in the same comune. Both are parameters (`rules_for`), per federation, region or nation."""
    circolo = roll.circolo
    params = rules_for(circolo)
    if circolo.kind == Kind.ONLINE:
        required, counted = params.min_members_online, roll.member_count
        message = _(
            "Un circolo online deve avere almeno %(min)s iscritti per certificare l'anagrafe: questa "
            "versione ne conta %(n)s. Non si può firmare né ratificare finché non li raggiunge."
        )
    elif circolo.kind == Kind.PUNTO_PD:
        required = params.min_members_punto_pd
        per_comune: dict[int, int] = {}
        for comune_id in roll.entries.exclude(person__residence_comune__isnull=True).values_list(
            "person__residence_comune", flat=True
        ):
            per_comune[comune_id] = per_comune.get(comune_id, 0) + 1
        counted = max(per_comune.values(), default=0)
        message = _(
            "Un Punto PD deve riunire almeno %(min)s persone dello stesso comune per certificare "
            "l'anagrafe: in questa versione ne risultano al massimo %(n)s residenti nello stesso comune. "
            "Non si può firmare né ratificare finché non le raggiunge."
        )
    else:
        return MinimumCheck(0, roll.member_count, "")
    return MinimumCheck(required, counted, message % {"min": required, "n": counted})


def _refuse_below_minimum(action: str, roll: Roll, *, actor: Any, territory: Territory) -> None:
    check = roll_minimum(roll)
    if not check.met:  # rule M12
        refuse(action, check.message, actor=actor, territory=territory, code="below_minimum_members")


def sign_off_roll(*, actor: Any, roll: Roll) -> Roll:
    """The circolo signs the frozen version; from now on it cannot be edited (M16).
    Refused while an online circolo or a Punto PD is below its minimum (M12)."""
    action = "membership.sign_off_roll"
    if not has_role_at(actor, roll.circolo, MEMBERSHIP_ROLES):
        refuse(
            action,
            _("Firma l'anagrafe il circolo."),
            actor=actor,
            territory=roll.circolo,
            code="out_of_scope",
            permission=True,
        )
    if roll.status != RollStatus.FROZEN:
        refuse(
            action,
            _("Si firma solo l'ultima versione calcolata (questa è «%(s)s»).") % {"s": roll.get_status_display()},
            actor=actor,
            territory=roll.circolo,
            code="wrong_state",
        )
    _refuse_below_minimum(action, roll, actor=actor, territory=roll.circolo)
    if not verify_roll(roll):
        refuse(
            action,
            _("L'impronta dell'anagrafe non corrisponde al contenuto: ricalcolala."),
            actor=actor,
            territory=roll.circolo,
            code="hash_mismatch",
        )
    with transaction.atomic():
        roll.status = RollStatus.SIGNED
        roll.signed_at = timezone.now()
        roll.signed_by = actor
        roll.save(update_fields=["status", "signed_at", "signed_by"])
        record(action, actor=actor, obj=roll, territory=roll.circolo, data={"hash": roll.content_hash})
    return roll


def record_roll_vote(
    *, actor: Any, roll: Roll, members_total: int, votes_for: int, votes_against: int, abstentions: int, note: str = ""
) -> RollVote:
    """Rule M16: the provincial guarantee commission ratifies by 2/3 of its members; otherwise
    the roll goes to the regional commission, which decides by majority of the votes cast."""
    action = "membership.record_roll_vote"
    if roll.status == RollStatus.SIGNED:
        level, commission = RollVote.Level.PROVINCIAL, roll.circolo.ancestor_at(Level.FEDERATION)
    elif roll.status == RollStatus.REFERRED:
        level, commission = RollVote.Level.REGIONAL, roll.circolo.ancestor_at(Level.REGION)
    else:
        refuse(
            action,
            _("Si vota un'anagrafe firmata dal circolo (questa è «%(s)s»).") % {"s": roll.get_status_display()},
            actor=actor,
            territory=roll.circolo,
            code="wrong_state",
        )
        raise AssertionError
    assert commission is not None
    if not has_role_at(actor, commission, GUARANTEE_ROLES):
        refuse(
            action,
            _("Registra il voto la commissione di garanzia di %(t)s.") % {"t": commission},
            actor=actor,
            territory=commission,
            code="out_of_scope",
            permission=True,
        )
    if members_total <= 0 or votes_for + votes_against + abstentions > members_total:
        refuse(
            action,
            _("I voti (%(v)s) non possono superare i componenti della commissione (%(m)s).")
            % {"v": votes_for + votes_against + abstentions, "m": members_total},
            actor=actor,
            territory=commission,
            code="bad_count",
            field="members_total",
        )
    # Provincial: two thirds of the commission's members; regional: majority of votes cast.
    passed = votes_for * 3 >= members_total * 2 if level == RollVote.Level.PROVINCIAL else votes_for > votes_against
    if passed:  # a ratification certifies the roll: rule M12 again (the minimum may have risen since signing)
        _refuse_below_minimum(action, roll, actor=actor, territory=commission)
    now = timezone.now()
    with transaction.atomic():
        vote = RollVote.objects.create(
            roll=roll,
            level=level,
            commission=commission,
            members_total=members_total,
            votes_for=votes_for,
            votes_against=votes_against,
            abstentions=abstentions,
            passed=passed,
            content_hash=roll.content_hash,
            note=note,
            recorded_by=actor,
        )
        if passed:
            roll.status = RollStatus.RATIFIED
        elif level == RollVote.Level.PROVINCIAL:
            roll.status = RollStatus.REFERRED
        else:
            roll.status = RollStatus.REJECTED
        roll.decided_at = now
        roll.save(update_fields=["status", "decided_at"])
        record(
            action,
            actor=actor,
            obj=roll,
            territory=commission,
            data={
                "level": level,
                "for": votes_for,
                "against": votes_against,
                "abstentions": abstentions,
                "members": members_total,
                "passed": passed,
                "status": roll.status,
            },
        )
    return vote
