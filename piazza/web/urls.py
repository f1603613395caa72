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
    path("gestione/", views.dashboard, name="dashboard"),
    path("gestione/registro/", views.audit_log, name="audit_log"),
]
