from django.urls import URLPattern, URLResolver

app_name = "membership"

urlpatterns: list[URLPattern | URLResolver] = []
