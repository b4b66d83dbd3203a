from django.contrib import admin
from django.contrib.auth import views as auth_views
from django.urls import include, path

from ops import views as ops_views
from reviews import views as review_views

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/", include("api.urls")),
    path("healthz", ops_views.healthz, name="healthz"),
    path("readyz", ops_views.readyz, name="readyz"),
    path("metrics", ops_views.metrics, name="metrics"),
    # Sign-in: the password form and OpenID Connect single sign-on (sso/).
    path("accounts/", include("sso.urls")),
    path("accounts/logout/", auth_views.LogoutView.as_view(), name="logout"),
    # A vendor's security contact attests the roster here, with no account.
    path("attest/<str:token>/", review_views.attestation_page, name="attestation_page"),
    path("", include("dashboard.urls")),
]
