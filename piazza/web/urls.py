from django.urls import path

from piazza.web import views

app_name = "web"

urlpatterns = [
    path("", views.home, name="home"),
    path("trasparenza/", views.transparency, name="transparency"),
    path("accesso/", views.LoginView.as_view(), name="login"),
    path("uscita/", views.logout_view, name="logout"),
    path("accesso/2fa/attiva/", views.otp_setup, name="otp_setup"),
    path("accesso/2fa/", views.otp_verify, name="otp_verify"),
    path("accesso/2fa/codici/", views.backup_codes, name="backup_codes"),
    path("accesso/password/", views.PasswordResetView.as_view(), name="password_reset"),
    path("accesso/password/inviata/", views.PasswordResetDoneView.as_view(), name="password_reset_done"),
    path("accesso/password/<uidb64>/<token>/", views.PasswordResetConfirmView.as_view(), name="password_reset_confirm"),
    path("accesso/password/fatto/", views.PasswordResetCompleteView.as_view(), name="password_reset_complete"),
    path("gestione/", views.dashboard, name="dashboard"),
    path("gestione/registro/", views.audit_log, name="audit_log"),
]
