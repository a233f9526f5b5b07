"""Turn the sandbox's dataclass records into JSON-ready data and back (for the state file).

Types come from the dataclasses' annotations: ``Decimal`` travels as a string, ``date`` and
``datetime`` as ISO 8601, nested dataclasses, lists and dicts recursively. Fields marked
``metadata={"transient": True}`` (caches) are not saved.
"""
import dataclasses
import types
import typing
from datetime import date, datetime
from decimal import Decimal
from functools import lru_cache


def dump(value):
    if dataclasses.is_dataclass(value):
        return {
            f.name: dump(getattr(value, f.name)) for f in dataclasses.fields(value) if not f.metadata.get("transient")
        }
    if isinstance(value, Decimal):
        return str(value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    if isinstance(value, dict):
        return {key: dump(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [dump(item) for item in value]
    return value


def load(kind, data):
    """Rebuild a value of annotated type ``kind`` from :func:`dump` output."""
    if data is None:
        return None
    origin = typing.get_origin(kind)
    if origin in (typing.Union, types.UnionType):
        inner = [arg for arg in typing.get_args(kind) if arg is not type(None)]
        return load(inner[0], data)
    if origin is list:
        (item_kind,) = typing.get_args(kind) or (typing.Any,)
        return [load(item_kind, item) for item in data]
    if origin is dict:
        _, value_kind = typing.get_args(kind) or (str, typing.Any)
        return {key: load(value_kind, item) for key, item in data.items()}
    if dataclasses.is_dataclass(kind):
        hints = _hints(kind)
        known = {f.name for f in dataclasses.fields(kind)}
        return kind(**{name: load(hints[name], value) for name, value in data.items() if name in known})
    if kind is Decimal:
        return Decimal(data)
    if kind is datetime:
        return datetime.fromisoformat(data)
    if kind is date:
        return date.fromisoformat(data)
    return data


@lru_cache(maxsize=None)
def _hints(kind):
    return typing.get_type_hints(kind)
