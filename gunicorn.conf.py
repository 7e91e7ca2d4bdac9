"""gunicorn settings, read automatically from the working directory (`gunicorn portal.wsgi`)."""

import os
import tempfile

bind = os.environ.get("GUNICORN_BIND", f"0.0.0.0:{os.environ.get('PORT', '8000')}")
workers = int(os.environ.get("WEB_CONCURRENCY", "2"))
# Threaded workers: a sync worker cannot tell the master it is alive while it streams a
# response, so a long audit export (a million records take a while) would be killed at
# `timeout`. Each thread holds its own database connection.
worker_class = "gthread"
threads = int(os.environ.get("GUNICORN_THREADS", "4"))
# How long a worker may stop answering the master before it is killed and replaced. The
# AWS calls have their own, shorter connect + read timeouts, so a slow upstream is answered
# with a clean error page by the portal.
timeout = int(os.environ.get("GUNICORN_TIMEOUT", "60"))
graceful_timeout = 30
keepalive = 5
# Recycle workers now and then so a slow leak cannot grow without bound.
max_requests = 5000
max_requests_jitter = 500

accesslog = "-"
errorlog = "-"
# %(U)s is the path without the query string: a query string may carry a token, and
# access logs are kept and shipped far and wide.
access_log_format = '%(h)s "%(m)s %(U)s %(H)s" %(s)s %(B)s %(M)sms'
# Trust X-Forwarded-* only from a proxy on this host by default.
forwarded_allow_ips = os.environ.get("FORWARDED_ALLOW_IPS", "127.0.0.1")

# Metrics from every worker add up at /metrics (prometheus-client's multi-process mode):
# each process writes its counters to files in this directory (a new one for each start
# unless it is set). Give the background worker and the clock the same
# PROMETHEUS_MULTIPROC_DIR to count their figures too (docs/OPERATIONS.md).
metrics_dir = os.environ.get("PROMETHEUS_MULTIPROC_DIR") or tempfile.mkdtemp(
    prefix="portcullis-metrics-"
)
os.environ["PROMETHEUS_MULTIPROC_DIR"] = metrics_dir


def on_starting(server):
    os.makedirs(metrics_dir, exist_ok=True)


def child_exit(server, worker):
    """A worker that ends (recycled, killed) leaves its counters, not its live gauges."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid, metrics_dir)
