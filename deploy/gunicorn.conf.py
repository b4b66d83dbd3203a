"""gunicorn settings for Sundown's web (``gunicorn -c deploy/gunicorn.conf.py config.wsgi``).

With PROMETHEUS_MULTIPROC_DIR set, each gunicorn worker writes its metrics to its own
file there and /metrics sums them; the folder is emptied when the master starts, so a
restarted container does not add up counters of processes from its previous life.
"""

import os

bind = os.environ.get("GUNICORN_BIND", "0.0.0.0:8000")
workers = int(os.environ.get("GUNICORN_WORKERS", "3"))
# Only the proxy's X-Forwarded-Proto is believed (compose sets its address); never "*".
forwarded_allow_ips = os.environ.get("GUNICORN_FORWARDED_ALLOW_IPS", "127.0.0.1")
# Sundown logs one line per request itself (ops.middleware, JSON when LOG_FORMAT=json).
accesslog = None
errorlog = "-"


def on_starting(server):
    from ops.metrics import multiprocess_dir_reset

    multiprocess_dir_reset()


def post_worker_init(worker):
    # Django, the apps and their modules are loaded now: out of every later collection.
    # Otherwise the collector's full pass walks them all again (150,000 objects), a pause
    # of ~95 ms every few hundred requests that lands on whichever request is running.
    import gc

    gc.collect()
    gc.freeze()


def child_exit(server, worker):
    if os.environ.get("PROMETHEUS_MULTIPROC_DIR"):
        from prometheus_client import multiprocess

        multiprocess.mark_process_dead(worker.pid)
