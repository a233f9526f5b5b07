"""Receivers for billing changes. Filled in by the sync engine."""


def connect_receivers() -> None:
    return None
