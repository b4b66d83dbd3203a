"""Shared helpers for end-to-end revocation tests: real workers, private Redis, waiting.

Use them from any connector's end-to-end test::

    from tests.revocation.helpers import Worker, wait_for

    @pytest.mark.django_db(transaction=True)
    def test_contract_end_revokes(...):
        with Worker(beat=True) as worker:
            ...  # create data, end a contract
            wait_for(lambda: Credential.objects.get(pk=c.pk).status == "revoked")

The worker is a real ``celery -A config worker`` process talking to the test
database (``connection.settings_dict["NAME"]``) through Redis, on a queue of its
own (with one per connector kind, named after it) so parallel runs never steal
each other's messages.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from pathlib import Path

import psycopg2
from django.db import close_old_connections, connection

ROOT = Path(__file__).resolve().parents[2]
PG = {"host": "127.0.0.1", "port": 5432}
SHARED_REDIS = "redis://127.0.0.1:6379"


@contextlib.contextmanager
def pg_admin(dbname: str = "postgres"):
    """A superuser cursor on the shared server (autocommit), for target-side setup."""
    conn = psycopg2.connect(host=PG["host"], port=PG["port"], user="postgres", dbname=dbname)
    conn.autocommit = True
    try:
        with conn.cursor() as cursor:
            yield cursor
    finally:
        conn.close()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_for(
    condition: Callable[[], object],
    timeout: float = 30.0,
    interval: float = 0.2,
    message: str | Callable[[], str] = "",
):
    """Poll ``condition`` until it returns something truthy; fail after ``timeout``."""
    deadline = time.monotonic() + timeout
    last = None
    while time.monotonic() < deadline:
        close_old_connections()
        last = condition()
        if last:
            return last
        time.sleep(interval)
    if callable(message):
        message = message()[-4000:]  # e.g. Worker.log: the end of the worker's output
    raise AssertionError(f"timed out after {timeout}s waiting for {message or condition}: {last}")


class RedisServer:
    """A private redis-server on a free port, for tests that stop, restart or flush it."""

    def __init__(self):
        self.port = free_port()
        self.proc: subprocess.Popen | None = None
        self.restarts = 0

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> RedisServer:
        self.proc = subprocess.Popen(
            [
                "redis-server",
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(lambda: self.ping(), timeout=10, message="private redis to start")
        return self

    def ping(self) -> bool:
        import redis

        try:
            return redis.Redis(port=self.port, socket_timeout=0.5).ping()
        except redis.RedisError:
            return False

    def client(self):
        import redis

        return redis.Redis(port=self.port)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()  # no persistence configured: queued messages are gone
            self.proc.wait(timeout=10)
        self.proc = None

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()


def worker_env(*, broker_url: str, queue: str, var_dir: str, **overrides) -> dict[str, str]:
    """Environment for a worker that uses the current test database."""
    settings_dict = connection.settings_dict
    db_url = (
        f"postgres://{settings_dict['USER'] or 'postgres'}@{settings_dict['HOST'] or PG['host']}:"
        f"{settings_dict['PORT'] or PG['port']}/{settings_dict['NAME']}"
    )
    env = {
        **os.environ,
        "DJANGO_SETTINGS_MODULE": os.environ.get("SUNDOWN_TEST_WORKER_SETTINGS", "config.settings"),
        "DATABASE_URL": db_url,
        "DEBUG": "0",
        "CELERY_BROKER_URL": broker_url,
        "CELERY_TASK_DEFAULT_QUEUE": queue,
        "SUNDOWN_VAR_DIR": var_dir,
        "EMAIL_BACKEND": "django.core.mail.backends.filebased.EmailBackend",
        "EMAIL_FILE_PATH": str(Path(var_dir) / "mail"),
        # Test tempo: sweep every second, retries after a second, short leases.
        "SUNDOWN_SWEEP_SECONDS": "1",
        "SUNDOWN_NOTICE_SECONDS": "3600",
        "SUNDOWN_REVOCATION_RETRY_DELAYS": "1",
        "SUNDOWN_REVOCATION_LEASE_SECONDS": "30",
        "LOG_LEVEL": "WARNING",
        "PYTHONUNBUFFERED": "1",
        # Prefork children count metrics here; the worker's main process serves them.
        "PROMETHEUS_MULTIPROC_DIR": str(Path(var_dir) / "metrics"),
    }
    env.update({k: str(v) for k, v in overrides.items()})
    return env


class Worker:
    """A real ``celery -A config worker`` subprocess (optionally with ``--beat``).

    ``broker_url`` and ``queue`` default to the ones this test process publishes to
    (``session_broker``): a Redis database on the shared server, where nothing is
    ever flushed, and a queue named after this process.
    """

    def __init__(
        self,
        *,
        beat: bool = False,
        broker_url: str | None = None,
        queue: str | None = None,
        concurrency: int = 2,
        env: dict | None = None,
        beat_only: bool = False,
        kinds: list[str] | None = None,
    ):
        self.beat = beat
        self.beat_only = beat_only
        self.kinds = kinds  # serve only these kinds' queues (and the default one)
        default_broker, default_queue = session_broker()
        self.broker_url = broker_url or default_broker
        self.queue = queue or default_queue
        self.concurrency = concurrency
        self.extra_env = env or {}
        self.var_dir = tempfile.mkdtemp(prefix="sundown-worker-")
        self.proc: subprocess.Popen | None = None
        self.restarts = 0
        self.log_path = Path(self.var_dir) / "worker.log"
        self.restarts = 0  # by supervise()

    @property
    def env(self) -> dict[str, str]:
        return worker_env(
            broker_url=self.broker_url, queue=self.queue, var_dir=self.var_dir, **self.extra_env
        )

    def start(self) -> Worker:
        celery = str(Path(sys.executable).with_name("celery"))
        schedule = str(Path(self.var_dir) / f"beat-{uuid.uuid4().hex[:6]}")
        if self.beat_only:
            cmd = [celery, "-A", "config", "beat", "--schedule", schedule, "--loglevel=WARNING"]
        else:
            cmd = [
                celery,
                "-A",
                "config",
                "worker",
                "--loglevel=WARNING",
                f"--concurrency={self.concurrency}",
                "--pool=prefork",
                # No -Q: the worker serves every queue the app declares, all named after
                # CELERY_TASK_DEFAULT_QUEUE (this process's queue and its per-kind ones).
                *(
                    ["-Q", ",".join([self.queue, *(f"{self.queue}.{k}" for k in self.kinds)])]
                    if self.kinds is not None
                    else []
                ),
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"{self.queue}-{uuid.uuid4().hex[:4]}@%h",
            ]
            if self.beat:
                cmd += ["--beat", "--schedule", schedule]
        log = open(self.log_path, "ab")  # noqa: SIM115 (kept open for the process's life)
        self.proc = subprocess.Popen(
            cmd,
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its pool children die with it on SIGKILL of the group
        )
        return self

    def log(self) -> str:
        try:
            return self.log_path.read_text(errors="replace")
        except OSError:
            return ""

    def alive(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def supervise(self) -> None:
        """Start the worker again if it exited, as the deployment's supervisor does
        (compose: ``restart: unless-stopped``). Counted in ``restarts``."""
        if self.proc is not None and self.proc.poll() is not None:
            self.restarts += 1
            self.start()

    def kill(self) -> None:
        """SIGKILL the whole process group: no shutdown, no acks, no cleanup."""
        if self.proc is not None and self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGKILL)
            self.proc.wait(timeout=10)

    def stop(self) -> None:
        if self.proc is None:
            return
        if self.proc.poll() is None:
            os.killpg(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(timeout=15)
            except subprocess.TimeoutExpired:
                self.kill()
        self.proc = None

    def send(self, task_name: str, *args, task_id: str | None = None) -> None:
        """Publish a task to this worker's queue, as the app would."""
        from config.celery import app

        with app.connection_for_write(self.broker_url) as conn:
            app.send_task(task_name, args=args, queue=self.queue, task_id=task_id, connection=conn)

    def mails(self) -> list[str]:
        mail_dir = Path(self.var_dir) / "mail"
        if not mail_dir.is_dir():
            return []
        return [p.read_text(errors="replace") for p in sorted(mail_dir.iterdir())]

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        shutil.rmtree(self.var_dir, ignore_errors=True)


def session_broker() -> tuple[str, str]:
    """The broker URL and queue this test process publishes to (see ``use_test_broker``)."""
    return f"{SHARED_REDIS}/{(os.getpid() % 13) + 2}", f"sundown-test-{os.getpid()}"


def use_test_broker() -> None:
    """Point ``.delay`` in this process at the session's Redis database and queue."""
    from config.celery import app

    broker_url, queue = session_broker()
    app.conf.broker_url = broker_url
    app.conf.task_default_queue = queue
    app.conf.broker_connection_retry_on_startup = False
    app.conf.broker_transport_options = {"max_retries": 1}
    _drop_publisher_pools(app)


def _drop_publisher_pools(app) -> None:
    # Celery keeps the connection and producer pools it built on first publish (for the
    # settings' memory:// when an earlier test sent a task): new ones follow app.conf.
    # Not closed: kombu keeps each in a registry per URL and hands the same one back
    # when that URL is used again (a closed one would refuse every publish).
    app._pool = None
    app.amqp._producer_pool = None


@contextlib.contextmanager
def publishing_to_test_broker():
    """``.delay`` in this process (and its live_server thread) reaches a ``Worker``
    while inside; where it went before (memory://: nowhere) afterwards."""
    from config.celery import app

    names = ("broker_url", "task_default_queue", "broker_connection_retry_on_startup")
    before = {name: app.conf[name] for name in (*names, "broker_transport_options")}
    use_test_broker()
    try:
        yield
    finally:
        for name, value in before.items():
            app.conf[name] = value
        _drop_publisher_pools(app)


def db_name() -> str:
    return connection.settings_dict["NAME"]


class StallProxy:
    """A TCP proxy on loopback in front of a real server, for fault tests.

    ``freeze()`` stops forwarding in both directions while keeping every connection
    open: to the client the server looks frozen (SIGSTOP, a full disk), its kernel
    still accepting and acknowledging. ``thaw()`` forwards again; ``stop()`` closes
    the listener and every connection, so new ones are refused.
    """

    def __init__(self, target: tuple[str, int], host: str = "127.0.0.1"):
        import threading

        self.target = target
        self.host = host  # a server on its own loopback address (the AD DC) is proxied there
        self.port = free_port()
        self._frozen = threading.Event()
        self._closed = threading.Event()
        self._sockets: list[socket.socket] = []
        self._listener: socket.socket | None = None

    def start(self) -> StallProxy:
        import threading

        self._closed.clear()
        self._listener = socket.socket()
        self._listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self._listener.bind((self.host, self.port))
        self._listener.listen(64)
        threading.Thread(target=self._accept, daemon=True).start()
        return self

    def _accept(self) -> None:
        import threading

        assert self._listener is not None
        while not self._closed.is_set():
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self.target)
            self._sockets += [client, upstream]
            for a, b in ((client, upstream), (upstream, client)):
                threading.Thread(target=self._pipe, args=(a, b), daemon=True).start()

    def _pipe(self, src: socket.socket, dst: socket.socket) -> None:
        try:
            while not self._closed.is_set():
                if self._frozen.is_set():
                    time.sleep(0.05)
                    continue
                src.settimeout(0.1)
                try:
                    data = src.recv(65536)
                except TimeoutError:
                    continue
                if not data:
                    break
                # Frozen while this recv waited: hold what arrived until thawed.
                while self._frozen.is_set() and not self._closed.is_set():
                    time.sleep(0.05)
                dst.sendall(data)
        except OSError:
            pass
        finally:
            with contextlib.suppress(OSError):
                dst.shutdown(socket.SHUT_WR)

    def freeze(self) -> None:
        self._frozen.set()

    def thaw(self) -> None:
        self._frozen.clear()

    def stop(self) -> None:
        self._closed.set()
        if self._listener is not None:
            self._listener.close()
            self._listener = None
        for sock in self._sockets:
            with contextlib.suppress(OSError):
                sock.close()
        self._sockets.clear()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
