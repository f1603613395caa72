"""Mounted at /raccolte/: public pages first, the back office under gestione/."""

from django.urls import URLPattern, URLResolver, path

from piazza.funding import round_views, views

app_name = "funding"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.campaign_list, name="list"),
    path("gestione/", views.manage_list, name="manage_list"),
    path("gestione/nuova/", views.manage_create, name="manage_create"),
    path("gestione/fondi/", views.pools, name="pools"),
    path("gestione/fondi/<int:pk>/round/", views.pool_round, name="pool_round"),
    path("gestione/fondi/<int:pk>/round/escludi/", round_views.pool_round_exclude, name="pool_round_exclude"),
    path("gestione/fondi/simulazione/", round_views.pool_simulate, name="pool_simulate"),
    path("gestione/<int:pk>/", views.manage_detail, name="manage"),
    path("gestione/<int:pk>/anteprima/", views.manage_public_preview, name="manage_preview"),
    path("gestione/<int:pk>/donatori/", views.manage_donors, name="manage_donors"),
    path("gestione/<int:pk>/<slug:verb>/", views.manage_action, name="manage_action"),
    path("donazione/<str:token>/", views.donation_status, name="donation"),
    path("donazione/<str:token>/ricevute/<int:pk>/", views.donation_receipt, name="donation_receipt"),
    path("donatore/non-sono-io/", views.forget_donor, name="forget_donor"),
    path("aggiornamenti/<str:token>/disiscriviti/", views.unsubscribe, name="unsubscribe"),
    path("p/<slug:slug>/", views.fundraising_page, name="page"),
    path("<slug:slug>/", views.campaign_detail, name="campaign"),
    path("<slug:slug>/dona/", views.donate, name="donate"),
    path("<slug:slug>/dona-azienda/", views.donate_legal_person, name="donate_legal_person"),
    path("<slug:slug>/dona-in-un-clic/", views.donate_one_click, name="donate_one_click"),
    path("<slug:slug>/termometro/", views.thermometer_partial, name="thermometer"),
    path("<slug:slug>/widget/", views.widget, name="widget"),
    path("<slug:slug>/card.png", views.share_card, name="card"),
    path("<slug:slug>/pagina/", views.page_create, name="page_create"),
]
