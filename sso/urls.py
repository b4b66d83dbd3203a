from django.urls import path

from sso import views

urlpatterns = [
    path("login/", views.SundownLoginView.as_view(), name="login"),
    path("oidc/start/", views.oidc_start, name="oidc_start"),
    path("oidc/callback/", views.oidc_callback, name="oidc_callback"),
]
