from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class MembershipConfig(AppConfig):
    name = "piazza.membership"
    label = "membership"
    verbose_name = _("Tesseramento")

    def ready(self) -> None:
        from piazza.membership import import_target, payments
        from piazza.membership.models import PAID_STATUSES, Membership
        from piazza.people.import_targets import register_target
        from piazza.people.queries import register_relation

        payments.register()
        register_target(import_target.TARGET)  # issue 11, item 13: the import wizard's "members of year Y"
        payments.register_contribution_sources()  # rules F6/F14: fees count toward the cap

        def members(qs):  # type: ignore[no-untyped-def]
            return qs.filter(memberships__status__in=PAID_STATUSES).distinct()

        register_relation("member", _("Iscritti"), members, regular_contact=True)
        del Membership
