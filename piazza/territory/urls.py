from django.urls import path

from piazza.territory import views

app_name = "territory"

urlpatterns = [
    path("<int:pk>/", views.detail, name="detail"),
    path("<int:pk>/nuovo/", views.create_child, name="create_child"),
    path("<int:pk>/area/", views.edit_area, name="edit_area"),
    path("<int:pk>/chiudi/", views.close, name="close"),
    path("<int:pk>/ruoli/", views.assign_role, name="assign_role"),
    path("<int:pk>/ruoli/<int:user_pk>/2fa/azzera/", views.reset_second_factor, name="reset_second_factor"),
]
