from django.urls import URLPattern, URLResolver, include, path

from piazza.compliance import receipt_views, views, views_books
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
    # The mandatario's books (F11, F12), the mandatario's own page, the 2×1000 (F9).
    path("candidature/<int:pk>/proclamazione/", views_books.proclamation, name="proclamation"),
    path("candidature/<int:pk>/dichiarazione.pdf", views_books.declaration_pdf, name="declaration_pdf"),
    path("candidature/<int:pk>/allegati.zip", views_books.declaration_annexes, name="declaration_annexes"),
    path("spese/<int:pk>/giustificativo/", views_books.expense_receipt, name="expense_receipt"),
    path("spese/<int:pk>/giustificativo/carica/", views_books.expense_receipt_upload, name="expense_receipt_upload"),
    path("mandati/", views_books.my_mandates, name="my_mandates"),
    path("mandati/<int:pk>/", views_books.mandate, name="mandate"),
    path("due-per-mille/", views_books.two_per_thousand, name="two_per_thousand"),
]
