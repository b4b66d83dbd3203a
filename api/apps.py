from django.apps import AppConfig


class ApiConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "api"
    verbose_name = "REST API"

    def ready(self):
        # Registers the OpenAPI description of the token authentication.
        from api import schema  # noqa: F401
