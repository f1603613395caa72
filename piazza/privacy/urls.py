from django.urls import URLPattern, URLResolver, path

from piazza.privacy import views

app_name = "privacy"

urlpatterns: list[URLPattern | URLResolver] = [
    path("persone/<int:pk>/cancella/", views.erase, name="erase"),
    path("cancellazione/<str:token>/", views.request_erasure_view, name="request_erasure"),
    path("conservazione/", views.retention, name="retention"),
]
