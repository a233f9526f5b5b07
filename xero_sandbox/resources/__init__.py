"""Xero's accounting resources: validation, business rules and wire-format rendering.

Each module turns one element of a request body into records in an :class:`OrgBook` (raising
:class:`ValidationFailed` before changing anything) and renders records back as Xero JSON.
"""
