"""``bench/api.py --http``: the API served by gunicorn as deployed, measured over loopback.

Split from bench/api.py (the seed and the in-process measurements stay there): starting
gunicorn with the deployment's config, the concurrent HTTP clients, and ``--against``,
which serves the same requests from two checkouts in alternating batches.
"""

import http.client
import os
import socket
import statistics
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def deployed_cache_url() -> str:
    """The deployment's shared Redis cache (docker-compose.yml), or the per-process one."""
    try:
        socket.create_connection(("127.0.0.1", 6379), timeout=0.5).close()
    except OSError:
        return "locmem://"
    return "redis://127.0.0.1:6379/14"


def start_gunicorn(
    workers: int, metrics_dir: str, cache_url: str, base: Path = BASE_DIR
) -> tuple[subprocess.Popen, int]:
    # As docker-compose.yml runs web: the same config file (sync workers, no threads),
    # request logs at INFO as JSON (written to /dev/null here) and per-worker metric files.
    # ``base``: the checkout whose code and config serve (--against runs two).
    port = _free_port()
    env = os.environ.copy()
    env.update(
        {
            "GUNICORN_WORKERS": str(workers),
            "GUNICORN_BIND": f"127.0.0.1:{port}",
            "LOG_LEVEL": "INFO",
            "LOG_FORMAT": "json",
            "PROMETHEUS_MULTIPROC_DIR": metrics_dir,
            "CACHE_URL": cache_url,
        }
    )
    proc = subprocess.Popen(
        [
            str(Path(sys.executable).with_name("gunicorn")),
            "-c",
            str(base / "deploy" / "gunicorn.conf.py"),
            "config.wsgi",
        ],
        cwd=base,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    for _ in range(100):
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return proc, port
        except OSError:
            time.sleep(0.1)
    proc.kill()
    raise SystemExit("gunicorn did not start")


def measure_http(port: int, key: str | None, urls, label: str, clients: int) -> dict:
    headers = {"Authorization": f"Token {key}"} if key else {}

    def fetch(url):
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        t0 = time.perf_counter()
        conn.request("GET", url, headers=headers)
        response = conn.getresponse()
        response.read()
        conn.close()
        if response.status != 200:
            raise SystemExit(f"{label}: {url} answered {response.status}")
        return time.perf_counter() - t0

    with ThreadPoolExecutor(clients) as pool:
        list(pool.map(fetch, urls[:20]))
        started = time.perf_counter()
        timings = sorted(pool.map(fetch, urls))
        elapsed = time.perf_counter() - started
    return {**summary(label, timings, elapsed), "timings": timings}


def summary(label: str, timings: list[float], elapsed: float) -> dict:
    """p50, p95 (ms) and requests/s of one endpoint's sorted request times."""
    return {
        "label": label,
        "n": len(timings),
        "p50": statistics.median(timings) * 1000,
        "p95": timings[int(len(timings) * 0.95) - 1] * 1000,
        "rps": len(timings) / elapsed,
    }


def run_against(args, key, cache_url, endpoints, rounds=10, batch=60) -> None:
    """This checkout and ``--against`` in two gunicorns, batches alternated.

    The neighbours' load on a shared machine moves a run's figures by more than most
    changes do; two servers answering the same requests in alternating batches of
    ``batch`` (first one, then the other, for ``rounds`` rounds) see the same load.
    The other checkout must read this database as migrated here. Each server has its own
    Redis database, so their rate-limit entries never meet.
    """
    import tempfile

    other_cache = cache_url[:-3] + "/13" if cache_url.endswith("/14") else cache_url
    servers: dict[str, tuple[subprocess.Popen, int]] = {}
    timings: dict[tuple[str, str], list[float]] = {}
    loads = []
    with (
        tempfile.TemporaryDirectory(prefix="sundown-bench-metrics-") as mine,
        tempfile.TemporaryDirectory(prefix="sundown-bench-metrics-") as theirs,
    ):
        try:
            servers["this"] = start_gunicorn(args.workers, mine, cache_url)
            servers["against"] = start_gunicorn(
                args.workers, theirs, other_cache, base=args.against.resolve()
            )
            for r in range(rounds):
                names = list(servers) if r % 2 == 0 else list(servers)[::-1]
                for label, make in endpoints.items():
                    urls = [make() for _ in range(batch)]
                    auth = None if label.endswith("/healthz") else key
                    for name in names:
                        result = measure_http(servers[name][1], auth, urls, label, args.clients)
                        timings.setdefault((label, name), []).extend(result["timings"])
                loads.append(os.getloadavg()[0])
        finally:
            for proc, _ in servers.values():
                proc.terminate()
                proc.wait(timeout=10)
    print(
        f"\nthis checkout against {args.against} over HTTP, the same requests in {rounds} "
        f"alternating batches of {batch} each, load {min(loads):.1f}-{max(loads):.1f}:"
    )
    print(f"{'endpoint':36} {'server':>8} {'p50 ms':>8} {'p95 ms':>8} {'p99 ms':>8}")
    for (label, name), values in timings.items():
        values.sort()
        p50 = statistics.median(values) * 1000
        p95, p99 = (values[int(len(values) * q) - 1] * 1000 for q in (0.95, 0.99))
        print(f"{label:36} {name:>8} {p50:8.1f} {p95:8.1f} {p99:8.1f}")


def run_http(args, key, n, metrics_dir, cache_url, endpoints) -> list[dict]:
    proc, port = start_gunicorn(args.workers, metrics_dir, cache_url)
    try:
        results = [measure_http(port, key, urls, label, args.clients) for label, urls in endpoints]
        # The yardstick: a request that reaches Django but runs no view code to speak of.
        results.append(
            measure_http(port, None, ["/healthz"] * n, "yardstick: /healthz", args.clients)
        )
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    return results
