"""Root URL map: each app owns its own urls module."""

from django.conf import settings
from django.conf.urls.static import static
from django.contrib import admin
from django.urls import URLPattern, URLResolver, include, path

urlpatterns: list[URLPattern | URLResolver] = [
    path("i18n/", include("django.conf.urls.i18n")),
    path("admin/", admin.site.urls),
    path("gestione/territori/", include("piazza.territory.urls")),
    path("persone/", include("piazza.people.urls")),
    path("pagamenti/", include("piazza.payments.urls")),
    path("banca/", include("piazza.payments.bank.urls")),
    path("contabilita/", include("piazza.ledger.urls")),
    path("conformita/", include("piazza.compliance.urls")),
    path("raccolte/", include("piazza.funding.urls")),
    path("tesseramento/", include("piazza.membership.urls")),
    path("il-mio-spazio/", include("piazza.community.urls")),
    path("privacy/", include("piazza.privacy.urls")),
    # The public transparency portal (issue 13); `trasparenza/registro/` is the donor register's.
    path("trasparenza/", include("piazza.transparency.urls")),
    path("firma/", include("piazza.petitions.urls")),
    path("volontari/", include("piazza.volunteers.urls")),
    path("comunicazioni/", include("piazza.outreach.urls")),
    path("eventi/", include("piazza.events.urls")),
    path("vicino-a-me/", include("piazza.discovery.urls")),
    path("api/", include("piazza.api.urls")),
    # The published donor register (rules F1, F2): before any other `trasparenza/` include.
    path("trasparenza/registro/", include("piazza.compliance.register.public_urls")),
    path("", include("piazza.web.urls")),
]
if settings.DEBUG:
    urlpatterns += static(settings.MEDIA_URL, document_root=settings.MEDIA_ROOT)
