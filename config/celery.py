"""Celery application: `celery -A config worker` and `celery -A config beat`."""

import os

from celery import Celery

from config.broker import use_patched_redis_transport

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
# Celery runs Django's system checks when a worker starts, which imports every URL conf
# and view (dashboard, API, SSO) the worker never serves: a second of a restarted
# worker's boot on a loaded machine. manage.py (migrate, check --deploy) and the web
# process still run them, and settings themselves still fail loudly when they load.
os.environ.setdefault("CELERY_SKIP_CHECKS", "true")

# Before any connection exists: redis:// uses the transport that survives a broker restart.
use_patched_redis_transport()
app = Celery("sundown")
app.config_from_object("django.conf:settings", namespace="CELERY")
app.autodiscover_tasks()

# Beat supervision, the watchdog thread, worker metrics and task log context.
import ops.celery  # noqa: E402,F401
