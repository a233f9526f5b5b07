"""Times on the settings pages, in the whitelabel's own time zone with its abbreviation."""

import datetime
import zoneinfo

from django import template
from django.utils import dateformat
from django.utils.html import format_html

register = template.Library()


def _zone(whitelabel) -> zoneinfo.ZoneInfo:
    try:
        return zoneinfo.ZoneInfo(whitelabel.time_zone)
    except (AttributeError, zoneinfo.ZoneInfoNotFoundError, ValueError):
        return datetime.UTC


@register.simple_tag
def local_time(moment: datetime.datetime | None, whitelabel, format: str = "j M Y, H:i T"):
    """`<time>` of `moment` in the whitelabel's time zone, e.g. "26 Nov 2025, 14:03 AEDT"; "" for None."""
    if moment is None:
        return ""
    local = moment.astimezone(_zone(whitelabel))
    return format_html(
        '<time datetime="{}">{}</time>', local.isoformat(timespec="seconds"), dateformat.format(local, format)
    )
