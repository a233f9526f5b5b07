"""Where Arena may send Xero credentials: https anywhere; plain http only to the hosts named in the
XERO_ALLOW_HTTP_HOSTS setting (a Xero sandbox on this machine or the compose network; empty in
production).

oauthlib's own rule is process-wide (OAUTHLIB_INSECURE_TRANSPORT, which the settings set only while
XERO_ALLOW_HTTP_HOSTS names a host), so every call to Xero (OAuth and API) asks this module first, per URL.
"""

from urllib.parse import urlsplit

from django.conf import settings
from django.core.checks import Tags, Warning, register
from django.core.exceptions import ImproperlyConfigured


class InsecureXeroEndpoint(ImproperlyConfigured):
    """A Xero URL is plain http to a host not allowed to be: a configuration error, never retried."""


def checked(url: str, setting: str) -> str:
    """`url` (the value of `setting`) if credentials may be sent there; else InsecureXeroEndpoint."""
    parts = urlsplit(url)
    if parts.scheme == "https" and parts.hostname:
        return url
    if parts.scheme == "http" and parts.hostname in settings.XERO_ALLOW_HTTP_HOSTS:
        return url
    if parts.scheme == "http":
        raise InsecureXeroEndpoint(
            f"Arena refuses to call Xero over plain http at {parts.hostname} ({setting}): use https, or name the"
            " host in XERO_ALLOW_HTTP_HOSTS if it is a local Xero sandbox."
        )
    raise InsecureXeroEndpoint(f"{setting} is not an http(s) URL.")


@register(Tags.security, deploy=True)
def plain_http_hosts_check(app_configs, **kwargs) -> list[Warning]:
    """`check --deploy`: plain http to Xero is for a local sandbox, never a deployment."""
    if not settings.XERO_ALLOW_HTTP_HOSTS:
        return []
    hosts = ", ".join(settings.XERO_ALLOW_HTTP_HOSTS)
    return [
        Warning(
            f"XERO_ALLOW_HTTP_HOSTS lets Xero calls to {hosts} go over plain http.",
            hint="Leave it empty in production: it is for a local Xero sandbox.",
            id="accounting.W001",
        )
    ]
