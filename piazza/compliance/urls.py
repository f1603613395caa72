from django.urls import URLPattern, URLResolver, include, path

from piazza.compliance import receipt_views, views
from piazza.compliance.tax_statements import views as tax_views

app_name = "compliance"

urlpatterns: list[URLPattern | URLResolver] = [
    path("candidature/", views.candidacy_list, name="candidacies"),
    path("candidature/nuova/", views.candidacy_create, name="candidacy_create"),
    path("candidature/<int:pk>/", views.candidacy_detail, name="candidacy"),
    path("candidature/<int:pk>/mandatario/", views.mandatario, name="mandatario"),
    path("candidature/<int:pk>/spese/", views.expense, name="expense"),
    path("candidature/<int:pk>/dichiarazioni/", views.declaration, name="declaration"),
    path("dichiarazioni/<int:pk>/documento/", views.declaration_document, name="declaration_document"),
    path("candidature/<int:pk>/rendiconto/", views.report, name="report"),
    path("registro/", include("piazza.compliance.register.urls")),  # the donor register (F1, F5)
    # Rule F3: the receipts register (issue 13).
    path("ricevute/", receipt_views.receipt_register, name="receipts"),
    path("ricevute/esporta/", receipt_views.receipt_export, name="receipts_export"),
    path("ricevute/<int:pk>/", receipt_views.receipt_pdf, name="receipt"),
    # Rules F7/F8: the annual tax statements.
    path("dichiarazioni-detrazione/", tax_views.overview, name="tax_statements"),
    path("dichiarazioni-detrazione/genera/", tax_views.start, name="tax_start"),
    path("dichiarazioni-detrazione/generazioni/<int:pk>/", tax_views.run, name="tax_run"),
    path("dichiarazioni-detrazione/generazioni/<int:pk>/riprendi/", tax_views.resume, name="tax_resume"),
    path("dichiarazioni-detrazione/<int:pk>/pdf/", tax_views.download, name="tax_statement_pdf"),
]
