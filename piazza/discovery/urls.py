from django.urls import path

from piazza.discovery import views

app_name = "discovery"

urlpatterns = [
    path("", views.near, name="near"),
]
