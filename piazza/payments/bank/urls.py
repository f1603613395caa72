from django.urls import URLPattern, URLResolver, path

from piazza.payments.bank import views

app_name = "bank"

urlpatterns: list[URLPattern | URLResolver] = [
    path("", views.overview, name="overview"),
    path("conti/nuovo/", views.account_new, name="account_new"),
    path("conti-contabili/<int:pk>/", views.ledger_account, name="ledger_account"),
    path("beneficiari/nuovo/", views.payee_new, name="payee_new"),
    path("mandati/", views.mandates, name="mandates"),
    path("mandati/nuovo/", views.mandate_new, name="mandate_new"),
    path("mandati/<int:pk>/", views.mandate_detail, name="mandate"),
    path("mandati/<int:pk>/modulo/", views.mandate_scan, name="mandate_scan"),
    path("distinte/", views.batches, name="batches"),
    path("distinte/<int:pk>/", views.batch_detail, name="batch"),
    path("distinte/<int:pk>/esporta/", views.batch_export, name="batch_export"),
    path("estratti/importa/", views.statement_import, name="import"),
    path("estratti/<uuid:upload_id>/", views.import_progress, name="import_progress"),
    path("movimenti/", views.lines, name="lines"),
    path("movimenti/<int:pk>/", views.line_detail, name="line"),
    path("bonifici/", views.transfers, name="transfers"),
    path("bonifici/<int:pk>/", views.transfer_detail, name="transfer"),
    path("versamenti/", views.payouts, name="payouts"),
    path("versamenti/<int:pk>/decidi/", views.payout_decide, name="payout_decide"),
    path("versamenti/distinte/<int:pk>/", views.payout_batch_download, name="payout_batch"),
    path("bonifico/<str:token>/", views.pay_by_transfer, name="pay_by_transfer"),
]
