"""The staff console."""

from django.contrib.auth import views as auth_views
from django.urls import path

app_name = "console"
urlpatterns = [
    path("login/", auth_views.LoginView.as_view(), name="login"),
]
