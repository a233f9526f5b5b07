"""The integration's own errors (Xero's answers are sorted in accounting/xero/errors.py).

Each class says whether its message is shown to users.
"""

from django.core.management.base import CommandError

from payments.models import Whitelabel

from .xero.errors import XeroError


class ConnectError(Exception):
    """Connecting failed; the message is shown to the admin and nothing was changed."""

    def __init__(self, message: str, whitelabel: Whitelabel | None = None):
        self.whitelabel = whitelabel
        super().__init__(message)


class NotConnected(XeroError):
    """The whitelabel has no active Xero connection. Shown to users."""


class ConnectionChanged(XeroError):
    """The whitelabel's connection now points at another organisation than the run started with: the run
    stops before sending anything there. Not shown (the next run starts with the new organisation)."""


class MappingError(Exception):
    """An Arena value has no counterpart in the organisation (a tax rate, a currency): the record fails
    without calling Xero. The message says what to create in Xero and is shown to users."""


class BadArguments(CommandError):
    """A management command was called wrongly (exit code 2); nothing was done. Shown to the operator."""

    def __init__(self, message: str):
        super().__init__(message, returncode=2)


class MappingRefused(Exception):
    """A mapping the connected organisation would refuse (issue 20): nothing was saved. The message names
    what is wrong and the valid choices, and is shown to users as it is."""
