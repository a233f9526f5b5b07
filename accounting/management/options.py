"""What the integration's commands (resync_xero, xero_reconcile) read from their arguments, said once."""

import datetime

from accounting.errors import BadArguments
from payments.models import Whitelabel


def date_option(value: str | None, option: str) -> datetime.date | None:
    """A YYYY-MM-DD option's date, or None when it was not given."""
    if value is None:
        return None
    try:
        return datetime.date.fromisoformat(value)
    except ValueError:
        raise BadArguments(f"{option} {value!r} is not a date: use YYYY-MM-DD, e.g. 2026-05-01.") from None


def whitelabels_named(slugs: list[str]) -> list[Whitelabel]:
    """The whitelabels with these slugs, in the order given (each once); an unknown slug is a bad argument."""
    slugs = list(dict.fromkeys(slugs))
    found = {w.slug: w for w in Whitelabel.objects.filter(slug__in=slugs)}
    unknown = [s for s in slugs if s not in found]
    if unknown:
        raise BadArguments(f"No whitelabel with slug {', '.join(repr(s) for s in unknown)}.")
    return [found[s] for s in slugs]
