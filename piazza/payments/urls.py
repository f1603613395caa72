from django.urls import URLPattern, URLResolver, path

from piazza.payments import views

app_name = "payments"

urlpatterns: list[URLPattern | URLResolver] = [
    path("webhook/<slug:provider>/", views.webhook, name="webhook"),
    path("sandbox/3ds/<str:reference>/", views.sandbox_authenticate, name="sandbox_authenticate"),
    path("i-miei-pagamenti/", views.payer_page, name="payer_page"),
    path("i-miei-pagamenti/accesso/<str:token>/", views.payer_access, name="payer_access"),
    path("i-miei-pagamenti/esci/", views.payer_leave, name="payer_leave"),
    path("i-miei-pagamenti/riprendi/<str:schedule_token>/", views.payer_resume, name="payer_resume"),
    path("i-miei-pagamenti/<str:token>/", views.payer_page_by_address, name="payer_page_by_address"),
    path("carta-salvata/link/", views.device_link_request, name="device_link_request"),
    path("carta-salvata/accesso/<str:token>/", views.device_access, name="device_access"),
    path("tesoreria/", views.treasury_payments, name="treasury_payments"),
    path("tesoreria/<int:pk>/", views.treasury_payment, name="treasury_payment"),
    path("tesoreria/ricorrenti/", views.treasury_schedules, name="treasury_schedules"),
    path("tesoreria/metodi/", views.treasury_methods, name="treasury_methods"),
    path("tesoreria/ricorrenti/<int:pk>/riprendi/", views.treasury_resume, name="treasury_resume"),
    path("ricorrenti/annulla/<str:token>/", views.cancel_schedule, name="cancel_schedule"),
    path("<str:token>/", views.pay, name="pay"),
    path("<str:token>/metodo/", views.choose_method, name="choose_method"),
    path("<str:token>/carta/", views.stripe_checkout, name="stripe_checkout"),
    path("<str:token>/ritorno/", views.provider_return, name="return"),
    path("<str:token>/esito/", views.done, name="done"),
]
