"""Numbers as people read them. Machine formats (seconds, UTC) stay in the API, the CSV
and the logs; pages say "12 hours"."""


def _unit(count: int, name: str) -> str:
    return f"{count} {name}" if count == 1 else f"{count} {name}s"


def duration(seconds: int) -> str:
    """43200 → "12 hours", 2700 → "45 minutes", 5400 → "1 hour 30 minutes",
    90 → "1 minute 30 seconds", 0 → "0 seconds"."""
    seconds = max(int(seconds), 0)
    hours, rest = divmod(seconds, 3600)
    minutes, seconds = divmod(rest, 60)
    parts = [(hours, "hour"), (minutes, "minute")]
    if not hours:
        parts.append((seconds, "second"))
    words = [_unit(count, name) for count, name in parts if count]
    return " ".join(words) or "0 seconds"
