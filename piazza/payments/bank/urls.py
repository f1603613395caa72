from django.urls import URLPattern, URLResolver

app_name = "bank"

urlpatterns: list[URLPattern | URLResolver] = []
