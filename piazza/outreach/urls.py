from django.urls import path

from piazza.outreach import views

app_name = "outreach"

urlpatterns = [
    path("", views.broadcast_list, name="list"),
    path("nuova/", views.broadcast_edit, name="create"),
    path("<int:pk>/", views.broadcast_detail, name="detail"),
    path("<int:pk>/modifica/", views.broadcast_edit, name="edit"),
    path("<int:pk>/anteprima/", views.broadcast_preview, name="preview"),
    path("<int:pk>/prova/", views.broadcast_test, name="test"),
    path("<int:pk>/invia/", views.broadcast_schedule, name="schedule"),
    path("<int:pk>/annulla/", views.broadcast_cancel, name="cancel"),
    path("<int:pk>/vincitore/", views.broadcast_winner, name="winner"),
    # Public: the links in every message (signed per person per broadcast).
    path("u/<str:token>/", views.unsubscribe, name="unsubscribe"),
    path("u/<str:token>/preferenze/", views.preferences, name="preferences"),
    # Provider events (django-anymail normalises them; HTTP basic auth with ANYMAIL WEBHOOK_SECRET).
    path("webhook/postmark/", views.postmark_webhook, name="webhook_postmark"),
]
