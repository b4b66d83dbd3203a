"""How long a Celery worker takes from its start to its first task (a restarted worker
does nothing until then: bench/chaos.py's SIGKILL storm restarts one every 3-5 s).

    .venv/bin/python bench/worker_boot.py [--runs 5] [--concurrency 2]

Starts ``celery -A config worker`` on a private Redis ``--runs`` times, each with one
task already queued (a batch task for a system that does not exist: it returns at
once), and prints the median seconds to Celery's "ready" line and to the task's end,
next to two yardsticks from the same run: a bare interpreter start and
``django.setup()`` alone. Run it from the repository root; the machine's load average
is printed with the figures.
"""

from __future__ import annotations

import argparse
import os
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path

from _chaos_procs import Redis
from _setup import ROOT, django_on_fresh_database, drop_database

DB = "sundown_bench_boot"
ENV = {
    "LOG_LEVEL": "INFO",
    "LOG_FORMAT": "text",
    "SUNDOWN_WATCHDOG_SECONDS": "0",
    "PYTHONUNBUFFERED": "1",
}


def timed(cmd: list[str], env: dict) -> float:
    started = time.perf_counter()
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, capture_output=True)
    return time.perf_counter() - started


def boot_once(redis: Redis, concurrency: int, env: dict) -> tuple[float, float]:
    from celery import Celery

    queue = f"sundown-boot-{uuid.uuid4().hex[:8]}"
    env = {**env, "CELERY_BROKER_URL": redis.url, "CELERY_TASK_DEFAULT_QUEUE": queue}
    sender = Celery(broker=redis.url)
    # Queued before the worker exists: the time to it is the boot, not the delivery.
    sender.send_task(
        "revocation.revoke_system_batch", args=(10**9,), kwargs={"kind": ""}, queue=queue
    )
    log_path = Path(tempfile.mkdtemp(prefix="sundown-boot-")) / "worker.log"
    with open(log_path, "wb") as log:
        started = time.perf_counter()
        proc = subprocess.Popen(
            [
                str(Path(sys.executable).with_name("celery")),
                *("-A", "config", "worker", f"--concurrency={concurrency}"),
                *("--without-gossip", "--without-mingle", "--without-heartbeat"),
                *("-n", f"{queue}@%h"),
            ],
            cwd=ROOT,
            env={**os.environ, **env, "SUNDOWN_VAR_DIR": str(log_path.parent)},
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )
        ready = done = None
        try:
            while time.perf_counter() - started < 120 and done is None:
                text = log_path.read_text(errors="replace")
                now = time.perf_counter() - started
                if ready is None and " ready." in text:
                    ready = now
                if "succeeded in" in text:
                    done = now
                time.sleep(0.02)
        finally:
            proc.kill()
            proc.wait()
    if done is None:
        raise SystemExit(f"no task ran; see {log_path}")
    return ready or done, done


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--runs", type=int, default=5)
    parser.add_argument("--concurrency", type=int, default=2)
    args = parser.parse_args()
    django_on_fresh_database(DB)  # sets DATABASE_URL and the rest for the workers too
    env = {**os.environ, **ENV}
    python = sys.executable
    bare = [timed([python, "-c", "pass"], env) for _ in range(args.runs)]
    setup = [
        timed(
            [python, "-c", "import django; django.setup()"],
            {**env, "DJANGO_SETTINGS_MODULE": "config.settings"},
        )
        for _ in range(args.runs)
    ]
    redis = Redis()
    redis.start()
    try:
        boots = [boot_once(redis, args.concurrency, env) for _ in range(args.runs)]
    finally:
        redis.stop()
        drop_database(DB)
    median = statistics.median
    load = os.getloadavg()[0]
    print(f"worker start, concurrency {args.concurrency}, median of {args.runs} (load {load:.1f})")
    print("| python -c pass | django.setup() | worker ready | first task done |")
    print("|---|---|---|---|")
    print(
        f"| {median(bare):.2f} s | {median(setup):.2f} s | {median(b[0] for b in boots):.2f} s "
        f"| {median(b[1] for b in boots):.2f} s |"
    )


if __name__ == "__main__":
    main()
