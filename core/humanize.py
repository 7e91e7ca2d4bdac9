"""Numbers as people read them. Machine formats (seconds, UTC) stay in the API, the CSV
and the logs; pages say "12 hours"."""

from datetime import UTC, datetime, timedelta, tzinfo
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from django.utils import timezone
from django.utils.timesince import timesince, timeuntil


def _unit(count: int, name: str) -> str:
    return f"{count} {name}" if count == 1 else f"{count} {name}s"


def duration(seconds: int) -> str:
    """43200 → "12 hours", 2700 → "45 minutes", 5400 → "1 hour 30 minutes",
    3589 → "59 minutes", 45 → "45 seconds", 0 → "0 seconds".

    Whole minutes from one minute up: what is left of a window (3589 seconds) reads
    "59 minutes", never "59 minutes 49 seconds"; the minutes are never rounded up, so a
    length is never said to be longer than it is. Seconds only under a minute."""
    seconds = max(int(seconds), 0)
    if seconds < 60:
        return _unit(seconds, "second")
    hours, rest = divmod(seconds, 3600)
    parts = [(hours, "hour"), (rest // 60, "minute")]
    return " ".join(_unit(count, name) for count, name in parts if count)


def clock(
    moment: datetime, zone: tzinfo | None = None, *, date: bool = False, seconds: bool = False
) -> str:
    """A moment for a sentence, in `zone` (default: the active one, the viewer's on a
    page) with UTC beside it when that zone is another: "14:05 CET (13:05 UTC)";
    `date=True` puts the day first: "2026-11-25 14:05 CET (13:05 UTC)"; `seconds=True`
    adds the seconds."""
    shape = ("%Y-%m-%d " if date else "") + ("%H:%M:%S" if seconds else "%H:%M")
    local = moment.astimezone(zone or timezone.get_current_timezone())
    utc = moment.astimezone(UTC)
    if local.utcoffset() == timedelta(0) and local.tzname() in ("UTC", "GMT", None):
        return f"{utc:{shape}} UTC"
    return f"{local:{shape}} {local.tzname()} ({utc:{shape}} UTC)"


def relative(moment: datetime, now: datetime | None = None) -> str:
    """How far a moment is from now, as people say it: "in 52 minutes", "3 hours ago",
    "just now"."""
    now = now or timezone.now()
    if abs(moment - now) < timedelta(minutes=1):
        return "just now"
    return f"in {timeuntil(moment, now)}" if moment > now else f"{timesince(moment, now)} ago"


def zone_named(name: str) -> ZoneInfo:
    """The IANA zone `name`, or UTC for a name that is empty or unknown to this machine."""
    try:
        return ZoneInfo(name or "UTC")
    except (ZoneInfoNotFoundError, ValueError):
        return ZoneInfo("UTC")


def utc_stamp(moment: datetime) -> str:
    """A moment for machines (the CSV export, the SIEM): UTC, ISO 8601, microseconds."""
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
