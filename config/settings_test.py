"""Settings for the test suite: config.settings with test-friendly environment.

The suite runs against a real PostgreSQL; each pytest process gets its own
test database so parallel runs on one machine never share state.
"""

import os

os.environ.setdefault("DATABASE_URL", "postgres://postgres@127.0.0.1:5432/sundown")
os.environ.setdefault("SECRET_KEY", "test-secret-key-not-for-production-0123456789abcdefghijklmnop")
os.environ.setdefault("SUNDOWN_ENCRYPTION_KEYS", "dGVzdC1rZXktdGVzdC1rZXktdGVzdC1rZXktdGVzdC0=")
os.environ.setdefault("SECURE_SSL_REDIRECT", "0")
os.environ.setdefault("SECURE_COOKIES", "0")
# The suite's target servers run on loopback, and PostgreSQL and Redis targets are the
# very servers the suite's own database and worker broker use: both allowed explicitly
# here (tests/access/test_destinations.py checks the refusals with these switched off).
os.environ.setdefault("SUNDOWN_TARGET_ALLOWLIST", "127.0.0.0/8,::1/128,*.internal")
os.environ.setdefault("SUNDOWN_TARGET_ALLOW_OWN_SERVICES", "1")
# htpasswd targets live in a directory of this process's own (the environment carries
# it to the workers the tests start); tests/access checks the refusals.
if "SUNDOWN_LOCAL_TARGET_ROOTS" not in os.environ:
    import tempfile

    os.environ["SUNDOWN_LOCAL_TARGET_ROOTS"] = tempfile.mkdtemp(prefix="sundown-files-")
# One process per test run, and tests clear the cache: a shared Redis would be
# flushed under the feet of parallel runs.
os.environ.setdefault("CACHE_URL", "locmem://")

from config.settings import *  # noqa: E402,F403
from config.settings import DATABASES  # noqa: E402

DATABASES["default"]["CONN_MAX_AGE"] = 0
DATABASES["default"]["TEST"] = {
    "NAME": os.environ.get("SUNDOWN_TEST_DB", f"test_sundown_{os.getpid()}"),
}
# Each test process signs checkpoints with its own throwaway key and ships them nowhere
# unless a test asks (tests/audit configure a file sink in a temp dir).
import tempfile  # noqa: E402

SUNDOWN_AUDIT_SIGNING_KEY_FILE = os.path.join(tempfile.mkdtemp(prefix="sundown-key-"), "audit.key")
SUNDOWN_AUDIT_SIGNING_KEY_AUTOCREATE = True
SUNDOWN_CHECKPOINT_SINKS = []
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
ALLOWED_HOSTS = ["testserver", "127.0.0.1", "localhost"]
CELERY_TASK_ALWAYS_EAGER = False
# Tasks published by code under test go nowhere (kombu's in-memory transport), never
# into var/broker where a `make run` worker would pick them up. Tests that need a
# real worker point Celery at Redis themselves (tests/revocation/helpers.py).
CELERY_BROKER_URL = "memory://"
CELERY_BROKER_TRANSPORT_OPTIONS = {}
# Tests render templates without a collectstatic manifest.
STORAGES = {  # noqa: F405
    **STORAGES,  # noqa: F405
    "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
}
