"""Fixed-window counters in the cache: local memory by default, Redis via CACHE_URL."""

import time

from django.core.cache import cache

from core import metrics


def hit(key, *, limit, window):
    """Count one hit against `key`; returns (allowed, count, seconds until the window ends)."""
    now = time.time()
    bucket = int(now // window)
    cache_key = f"ratelimit:{key}:{bucket}"
    cache.add(cache_key, 0, timeout=window + 1)
    try:
        count = cache.incr(cache_key)
    except ValueError:  # expired between add() and incr()
        cache.set(cache_key, 1, timeout=window + 1)
        count = 1
    retry_after = int((bucket + 1) * window - now) + 1
    if count > limit:
        metrics.RATE_LIMITED.labels(key.split(":", 1)[0]).inc()
    return count <= limit, count, retry_after
