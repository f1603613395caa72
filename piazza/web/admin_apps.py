from django.contrib.admin.apps import AdminConfig


class PiazzaAdminConfig(AdminConfig):
    """Django admin with piazza's restricted site (national administrators after 2FA)."""

    default_site = "piazza.web.admin_site.PiazzaAdminSite"
