from django.apps import AppConfig


class SsoConfig(AppConfig):
    name = "sso"
    verbose_name = "Single sign-on"

    def ready(self):
        # Fail at start-up, not at the first sign-in, when the SSO settings are wrong.
        from sso.config import local_login_policy, oidc_config

        oidc_config()
        local_login_policy()
