"""The processes bench/chaos.py breaks: a loopback TCP proxy in front of the target (its
own process, so it can be SIGKILLed or SIGSTOPped), the Celery workers and beat, and a
private Redis. Run as ``python bench/_chaos_procs.py --proxy LISTEN UPSTREAM`` it is the
proxy."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from pathlib import Path

from _setup import ROOT


# A TCP proxy in its own process ---------------------------------------------------
def proxy_main(listen: int, upstream: int) -> None:
    """Forward 127.0.0.1:listen to 127.0.0.1:upstream, one thread per direction."""
    server = socket.socket()
    server.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    server.bind(("127.0.0.1", listen))
    server.listen(512)

    def pipe(src, dst):
        try:
            while data := src.recv(65536):
                dst.sendall(data)
        except OSError:
            pass
        finally:
            for s in (src, dst):
                with contextlib.suppress(OSError):
                    s.shutdown(socket.SHUT_RDWR)

    while True:
        client, _ = server.accept()
        try:
            up = socket.create_connection(("127.0.0.1", upstream))
        except OSError:
            client.close()
            continue
        for a, b in ((client, up), (up, client)):
            threading.Thread(target=pipe, args=(a, b), daemon=True).start()


class Proxy:
    def __init__(self, upstream: int):
        self.port = free_port()
        self.upstream = upstream
        self.proc: subprocess.Popen | None = None

    def start(self) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, __file__, "--proxy", str(self.port), str(self.upstream)],
            start_new_session=True,
        )
        wait_port(self.port)

    def kill(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGCONT)
            self.proc.kill()
            self.proc.wait()

    def stop_signal(self, sig) -> None:
        assert self.proc is not None
        self.proc.send_signal(sig)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port: int, timeout: float = 10) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise SystemExit(f"nothing listens on {port}")


# Workers ---------------------------------------------------------------------------
class Workers:
    def __init__(self, *, broker: str, var_dir: str, sweep: int, count=2, concurrency=2):
        self.queue = f"sundown-chaos-{uuid.uuid4().hex[:8]}"
        self.var_dir = var_dir
        self.env = {
            **os.environ,
            "CELERY_BROKER_URL": broker,
            "CELERY_TASK_DEFAULT_QUEUE": self.queue,
            "SUNDOWN_VAR_DIR": var_dir,
            "SUNDOWN_SWEEP_SECONDS": str(sweep),
            "LOG_LEVEL": "WARNING",
            "DATABASE_CONN_MAX_AGE": "600",
            "SUNDOWN_WATCHDOG_SECONDS": "0",
        }
        self.count = count
        self.concurrency = concurrency
        self.procs: list[subprocess.Popen | None] = [None] * count
        self.beat: subprocess.Popen | None = None
        self.beats: list[subprocess.Popen] = []  # more beats (the "beats" scenario)
        self.exited_alone = 0  # exits nobody asked for (a crash on a broker restart)
        self.logs: list[Path] = []
        # (slot, pid, wall-clock time) of every start and every SIGKILL, for the timeline.
        self.spawned: list[tuple[int, int, float]] = []
        self.killed: list[tuple[int, int, float]] = []

    def _spawn(self, cmd, name):
        celery = str(Path(sys.executable).with_name("celery"))
        log_path = Path(self.var_dir) / f"{name}.log"
        self.logs.append(log_path)
        log = open(log_path, "ab")  # noqa: SIM115 - open for the process's life
        return subprocess.Popen(
            [celery, "-A", "config", *cmd],
            cwd=ROOT,
            env=self.env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )

    def start_worker(self, i: int) -> None:
        self.procs[i] = self._spawn(
            [
                "worker",
                f"--concurrency={self.concurrency}",
                "--loglevel=WARNING",
                "--without-gossip",
                "--without-mingle",
                "--without-heartbeat",
                "-n",
                f"chaos{i}-{uuid.uuid4().hex[:4]}-{self.queue}@%h",
            ],
            f"worker{i}",
        )
        self.spawned.append((i, self.procs[i].pid, time.time()))

    def start(self) -> None:
        for i in range(self.count):
            self.start_worker(i)
        self.beat = self._spawn(
            ["beat", "--loglevel=WARNING", "--schedule", str(Path(self.var_dir) / "beat")], "beat"
        )

    def start_beat(self, name: str) -> None:
        """Another beat besides the first, with a schedule of its own."""
        self.beats.append(
            self._spawn(
                ["beat", "--loglevel=WARNING", "--schedule", str(Path(self.var_dir) / name)], name
            )
        )

    def kill(self, i: int) -> None:
        proc = self.procs[i]
        if proc is not None and proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
            self.killed.append((i, proc.pid, time.time()))
            proc.wait()

    def check(self) -> None:
        """Restart a worker that exited by itself (and count it)."""
        for i, proc in enumerate(self.procs):
            if proc is not None and proc.poll() is not None:
                self.exited_alone += 1
                self.start_worker(i)

    def pids(self) -> list[int]:
        return [p.pid for p in self.procs if p is not None and p.poll() is None]

    def stop(self) -> None:
        for proc in [*self.procs, self.beat, *self.beats]:
            if proc is not None and proc.poll() is None:
                os.killpg(proc.pid, signal.SIGTERM)
        for proc in [*self.procs, self.beat, *self.beats]:
            if proc is None:
                continue
            try:
                proc.wait(timeout=20)
            except subprocess.TimeoutExpired:
                os.killpg(proc.pid, signal.SIGKILL)
                proc.wait()


def ready(workers: Workers, timeout: float = 90) -> None:
    """Every worker has started its pool (a ping task through each queue would need a
    result store; LOG_LEVEL=WARNING hides Celery's "ready" line): its children exist
    once Django is set up and the consumer is about to start."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        started = 0
        for pid in workers.pids():
            with contextlib.suppress(OSError):
                started += bool(Path(f"/proc/{pid}/task/{pid}/children").read_text().split())
        if started >= workers.count:
            return
        time.sleep(0.25)


class Redis:
    def __init__(self):
        self.port = free_port()
        self.proc: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.proc = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", ""],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_port(self.port)

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait()

    def restart(self) -> None:
        self.stop()
        time.sleep(0.5)
        self.start()

    def flush(self) -> None:
        import redis

        redis.Redis(port=self.port).flushall()


if __name__ == "__main__" and len(sys.argv) == 4 and sys.argv[1] == "--proxy":
    proxy_main(int(sys.argv[2]), int(sys.argv[3]))
