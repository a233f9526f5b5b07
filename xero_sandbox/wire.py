"""Xero's wire conventions: Microsoft JSON dates, money as numbers, the response envelope.

Xero writes both Date and DateTime fields as ``/Date(<ms since epoch>+0000)/`` (dates at midnight
UTC), which is what xero-python's ``date[ms-format]``/``datetime[ms-format]`` deserialisers read.
Incoming dates may be in that form or ISO 8601 (``2024-05-01`` / ``2024-05-01T00:00:00``).
"""
import json
import re
import uuid
from datetime import date, datetime, time, timezone
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation

MS_DATE_RE = re.compile(r"^/Date\((-?\d+)([+-]\d{4})?\)/$")
CENT = Decimal("0.01")


def ms_datetime(value: datetime) -> str:
    return f"/Date({int(value.timestamp() * 1000)}+0000)/"


def ms_date(value: date) -> str:
    return ms_datetime(datetime.combine(value, time(), tzinfo=timezone.utc))


def date_string(value: date) -> str:
    return f"{value.isoformat()}T00:00:00"


def rfc3339(value: datetime) -> str:
    return value.astimezone(timezone.utc).isoformat(timespec="microseconds")


def parse_datetime(value) -> datetime:
    """Read a Microsoft JSON date or an ISO 8601 date/datetime; naive values are UTC."""
    if not isinstance(value, str):
        raise ValueError(f"not a date: {value!r}")
    text = value.strip()
    match = MS_DATE_RE.match(text)
    if match:
        return datetime.fromtimestamp(int(match.group(1)) / 1000, tz=timezone.utc)
    if text.endswith("Z"):
        text = text[:-1] + "+00:00"
    parsed = datetime.fromisoformat(text)
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=timezone.utc)
    return parsed


def parse_date(value) -> date:
    parsed = parse_datetime(value)
    if MS_DATE_RE.match(value.strip()):
        return parsed.date()
    return parsed.replace(tzinfo=None).date()


def to_decimal(value, field: str) -> Decimal:
    if isinstance(value, bool) or value is None:
        raise ValueError(f"{field} must be a number")
    try:
        result = Decimal(str(value))
    except InvalidOperation:
        raise ValueError(f"{field} must be a number") from None
    if not result.is_finite():
        raise ValueError(f"{field} must be a number")
    return result


def round_money(value: Decimal) -> Decimal:
    return value.quantize(CENT, rounding=ROUND_HALF_UP)


def is_guid(value) -> bool:
    try:
        uuid.UUID(str(value))
    except ValueError:
        return False
    return True


def new_id() -> str:
    return str(uuid.uuid4())


def _number(value):
    if isinstance(value, Decimal):
        return float(value)
    raise TypeError(f"Object of type {type(value).__name__} is not JSON serializable")


def dumps(data) -> str:
    """JSON text with Decimals as plain numbers (xero-python reads them back with parse_float=Decimal)."""
    return json.dumps(data, separators=(",", ":"), default=_number)


def envelope(provider_name: str, now: datetime, **collections) -> dict:
    body = {"Id": new_id(), "Status": "OK", "ProviderName": provider_name, "DateTimeUTC": ms_datetime(now)}
    body.update(collections)
    return body
