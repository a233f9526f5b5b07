"""What the integration's commands (resync_xero, xero_reconcile) read from their arguments, said once. A bad
argument is BadArguments: the command exits 2 with the message, having done nothing."""

import datetime
import math

from django.utils import timezone

from accounting.errors import BadArguments
from payments.models import Whitelabel

# Nothing Arena keeps is older: an earlier --since means the same, and is read as this (a date near year 1
# would not survive the time zones on its way to the database).
EARLIEST = datetime.date(1970, 1, 1)
LONGEST_WAIT = 7 * 24 * 3600  # --timeout: a week


def date_option(value: str | None, option: str) -> datetime.date | None:
    """A YYYY-MM-DD option's date, or None when it was not given."""
    if value is None:
        return None
    try:
        day = datetime.date.fromisoformat(value)
    except ValueError:
        raise BadArguments(f"{option} {value!r} is not a date: use YYYY-MM-DD, e.g. 2026-05-01.") from None
    return max(day, EARLIEST)


def latest_today(whitelabels: list[Whitelabel]) -> datetime.date:
    """Today's date where it is latest, among the whitelabels' time zones (the site's, with none)."""
    return max((w.local_date() for w in whitelabels), default=timezone.localdate())


def since_option(day: datetime.date | None, whitelabels: list[Whitelabel], *, nothing: str) -> None:
    """A --since after today asks for a window with nothing in it (`nothing` says what): a bad argument."""
    today = latest_today(whitelabels)
    if day is not None and day > today:
        raise BadArguments(
            f"--since {day} is after today ({today}): {nothing}. Use a date up to today, or leave --since out."
        )


def until_option(day: datetime.date | None, whitelabels: list[Whitelabel]) -> datetime.date | None:
    """--until a day after today means up to now: read as today."""
    return min(day, latest_today(whitelabels)) if day is not None else None


def seconds_option(value: str, option: str) -> float:
    """A number of seconds above 0, at most a week: not NaN, infinite or negative."""
    try:
        seconds = float(value)
    except (TypeError, ValueError):
        seconds = math.nan
    if not math.isfinite(seconds) or not 0 < seconds <= LONGEST_WAIT:
        raise BadArguments(
            f"{option} must be a number of seconds above 0 and at most {LONGEST_WAIT} (a week), e.g. 900; "
            f"not {value!r}."
        )
    return seconds


def whitelabels_named(slugs: list[str]) -> list[Whitelabel]:
    """The whitelabels with these slugs, in the order given (each once); an unknown slug is a bad argument."""
    slugs = list(dict.fromkeys(slugs))
    found = {w.slug: w for w in Whitelabel.objects.filter(slug__in=slugs)}
    unknown = [s for s in slugs if s not in found]
    if unknown:
        raise BadArguments(f"No whitelabel with slug {', '.join(repr(s) for s in unknown)}.")
    return [found[s] for s in slugs]
