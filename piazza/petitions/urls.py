from django.urls import path

from piazza.petitions import views

app_name = "petitions"

urlpatterns = [
    path("", views.index, name="index"),
    path("gestione/", views.manage_list, name="manage_list"),
    path("gestione/nuova/", views.manage_create, name="manage_create"),
    path("gestione/<int:pk>/", views.manage_detail, name="manage_detail"),
    path("gestione/<int:pk>/firme.csv", views.signatures_csv, name="signatures_csv"),
    path("gestione/<int:pk>/firme.pdf", views.signatures_pdf, name="signatures_pdf"),
    path("<slug:slug>/", views.public, name="public"),
    path("<slug:slug>/grazie/", views.thanks, name="thanks"),
    path("<slug:slug>/incorpora/", views.embed, name="embed"),
    path("<slug:slug>/incorpora/grazie/", views.thanks_embed, name="thanks_embed"),
]
