from django.apps import AppConfig


class ApiConfig(AppConfig):
    default_auto_field = "django.db.models.BigAutoField"
    name = "api"
    verbose_name = "REST API"
    # No ready() import of api.schema (drf-spectacular, half a second): the schema class
    # (REST_FRAMEWORK's DEFAULT_SCHEMA_CLASS, api.schema.AutoSchema) loads it, with the
    # token scheme's extension, before any schema is built, and Celery workers, which
    # never build one, start without it (a restarted worker takes work sooner).
