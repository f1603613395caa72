from django.urls import path

from piazza.community import views

app_name = "community"

urlpatterns = [
    path("", views.home, name="home"),
    path("accedi/", views.door, name="door"),
    path("accesso/<str:token>/", views.access, name="access"),
    path("esci/", views.sign_out, name="sign_out"),
    path("segui/", views.follow, name="follow"),
    path("segui/<int:pk>/smetti/", views.unfollow, name="unfollow"),
    path("riepilogo/", views.digest_switch, name="digest"),
    path("riepilogo/stop/<str:token>/", views.digest_stop, name="digest_stop"),
    path("riconoscimenti/", views.hide_recognition, name="recognition"),
    path("consensi/<str:purpose>/", views.consent, name="consent"),
    path("donazioni-ricorrenti/<int:pk>/annulla/", views.cancel_schedule, name="cancel_schedule"),
    path("donazioni-ricorrenti/<int:pk>/riprendi/", views.resume_schedule, name="resume_schedule"),
    path("donazioni-ricorrenti/<int:pk>/importo/", views.change_amount, name="change_amount"),
    path("donazioni-ricorrenti/<int:pk>/carta/", views.change_card, name="change_card"),
    path("carta/<str:token>/", views.card_change, name="card_change"),
    path("carta/<str:token>/circuito/", views.card_change_provider, name="card_change_provider"),
    path("carta/<str:token>/ritorno/", views.card_change_return, name="card_change_return"),
    path("dispositivi/<int:pk>/revoca/", views.revoke_device, name="revoke_device"),
    path("email/", views.change_email, name="change_email"),
    path("email/conferma/<str:token>/", views.confirm_email, name="confirm_email"),
    path("telefono/", views.change_phone, name="change_phone"),
    path("rettifica/", views.rectification, name="rectification"),
    path("passkey/", views.passkeys_page, name="passkeys"),
    path("passkey/nuova/opzioni/", views.passkey_register_options, name="passkey_register_options"),
    path("passkey/nuova/", views.passkey_register, name="passkey_register"),
    path("passkey/<int:pk>/rimuovi/", views.passkey_remove, name="passkey_remove"),
    path("passkey/accesso/opzioni/", views.passkey_sign_in_options, name="passkey_sign_in_options"),
    path("passkey/accesso/", views.passkey_sign_in, name="passkey_sign_in"),
    path("ricevute/<int:pk>/", views.receipt, name="receipt"),
    path("dichiarazioni/<int:pk>/pdf/", views.tax_statement, name="tax_statement"),
]
