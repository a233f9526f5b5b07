"""OpenAPI conformance: check requests received and responses sent against Xero's own OpenAPI files.

The vendored files (``openapi/``) are loaded once per process with spec self-checking off (the
accounting file does not pass strict meta-validation). Local URLs are mapped onto the spec's
servers: ``/api.xro/2.0/...`` onto ``https://api.xero.com/api.xro/2.0`` and ``/connections`` onto
``https://api.xero.com/Connections``. Webhook batches the sandbox sends are checked against the
schemas of ``xero-webhooks.yaml`` (``check_webhook``). Findings become violations the control API
reports. openapi-core and jsonschema are imported only when validation is switched on.
"""
import json
import threading
import warnings
from pathlib import Path

import yaml

SPEC_DIR = Path(__file__).parent / "openapi"
HOST = "https://api.xero.com"

# Xero ignores read-only fields on writes, and xero-python sends some back. Two cases are forgiven,
# and only the "read-only property" error: HasAttachments, which the SDK's models send (false) on
# every new object; and any read-only field inside an object that carries its Xero id, which is
# the SDK's fetch-modify-update round trip (e.g. SubTotal or UpdatedDateUTC on a fetched invoice).
ALWAYS_SENT_READ_ONLY = {"HasAttachments"}

# Xero documents GET/POST /Invoices/{InvoiceNumber} as well as /Invoices/{InvoiceID}, but the
# spec types that path parameter as a uuid; a non-uuid InvoiceID in the path is not a violation.
NUMBER_OR_ID_PATH_PARAMETERS = {"InvoiceID"}
RECORD_ID_KEYS = (
    "InvoiceID", "ContactID", "PaymentID", "BankTransactionID", "OverpaymentID", "PrepaymentID", "AccountID",
    "AllocationID", "LineItemID", "CreditNoteID",
)

# The spec documents only 200/400 (and a few 404s) per operation. Xero also answers 401/403/404/
# 429/5xx from its gateway and 400 to a GET with a bad where/page parameter. An error status the
# operation does not document is not a violation; a documented one (e.g. 400 on PUT) is checked.

_specs = {}
_specs_lock = threading.Lock()


def _load(name: str):
    from openapi_core import OpenAPI
    from openapi_core.configurations import Config

    with _specs_lock:
        if name not in _specs:
            with open(SPEC_DIR / name, encoding="utf-8") as handle:
                data = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            _specs[name] = OpenAPI.from_dict(data, config=Config(spec_validator_cls=None))
        return _specs[name]


WEBHOOKS_URI = "urn:xero-webhooks"
_webhook_validators = {}


def _webhook_validator(schema: str):
    from jsonschema import Draft202012Validator
    from referencing import Registry, Resource
    from referencing.jsonschema import DRAFT202012

    with _specs_lock:
        if not _webhook_validators:
            with open(SPEC_DIR / "xero-webhooks.yaml", encoding="utf-8") as handle:
                data = yaml.load(handle, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
            registry = Registry().with_resource(WEBHOOKS_URI, Resource.from_contents(data, DRAFT202012))
            for name in ("WebhookEvent", "CreditNoteWebhookEvent"):
                reference = {"$ref": f"{WEBHOOKS_URI}#/components/schemas/{name}"}
                _webhook_validators[name] = Draft202012Validator(reference, registry=registry)
        return _webhook_validators[schema]


def check_webhook(payload: dict) -> list[dict]:
    """Violations of Xero's webhook schemas by one batch: the whole batch against ``WebhookEvent``,
    each credit note event (as a batch of one) against ``CreditNoteWebhookEvent``. Formats (the
    ``date-time`` of ``eventDateUtc``) are not asserted: Xero's own examples carry no UTC offset."""
    found = [error.message for error in _webhook_validator("WebhookEvent").iter_errors(payload)]
    for event in payload.get("events", []):
        if event.get("eventCategory") == "CREDITNOTE":
            single = dict(payload, events=[event])
            found += [error.message for error in _webhook_validator("CreditNoteWebhookEvent").iter_errors(single)]
    return [{"kind": "webhook", "method": "POST", "path": "(webhook)", "status": None, "error": m} for m in found]


def in_scope(path: str) -> bool:
    lowered = path.lower()
    return lowered.startswith("/api.xro/2.0/") or lowered == "/connections" or lowered.startswith("/connections/")


class SpecRequest:
    """The openapi-core Request protocol over a captured Flask request."""

    def __init__(self, method, path, query, headers, body, content_type):
        from openapi_core.datatypes import RequestParameters
        from werkzeug.datastructures import Headers, ImmutableMultiDict

        self.method = method.lower()
        self.host_url = HOST
        self.path = path
        self.body = body or None
        self.content_type = content_type or "application/json"
        self.parameters = RequestParameters(
            query=ImmutableMultiDict(list(query)), header=Headers(list(headers)), cookie={}
        )


class SpecResponse:
    def __init__(self, status, body, content_type, headers):
        from werkzeug.datastructures import Headers

        self.status_code = status
        self.data = body
        self.content_type = content_type or "application/json"
        self.headers = Headers(list(headers))


def check(method, path, query, headers, body, content_type, status, response_body, response_type, response_headers,
          check_response=True):
    """Return the list of violations (dicts) for one exchange; injected fault answers are not checked."""
    spec_name, spec_path = _map(path)
    api = _load(spec_name)
    request = SpecRequest(method, spec_path, query, headers, body, content_type)
    found = []
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        found += [("request", message) for message in _request_errors(api, request)]
        if check_response:
            response = SpecResponse(status, response_body, response_type, response_headers)
            found += [("response", message) for message in _response_errors(api, request, response)]
    return [
        {"kind": kind, "method": method, "path": path, "status": status, "error": message} for kind, message in found
    ]


def _map(path: str) -> tuple[str, str]:
    if path.lower().startswith("/api.xro/2.0/"):
        return "xero_accounting.yaml", path
    return "xero-identity.yaml", "/Connections" + path[len("/connections"):]


def _request_errors(api, request) -> list[str]:
    messages = []
    for error in api.iter_request_errors(request):
        messages += _describe(error, request_body=_json_or_none(request.body))
    return messages


def _response_errors(api, request, response) -> list[str]:
    from openapi_core.templating.responses.exceptions import ResponseNotFound

    messages = []
    for error in api.iter_response_errors(request, response):
        if isinstance(error, ResponseNotFound) and response.status_code >= 400:
            continue
        messages += _describe(error)
    return messages


def _json_or_none(raw):
    try:
        return json.loads(raw) if raw else None
    except ValueError:
        return None


def _describe(error, request_body=None) -> list[str]:
    cause = error.__cause__
    schema_errors = getattr(cause, "schema_errors", None)
    parameter = getattr(error, "name", None)
    if parameter is not None:
        if getattr(error, "location", None) == "path" and parameter in NUMBER_OR_ID_PATH_PARAMETERS:
            return []
        return [f"{error}" + (f": {cause}" if cause is not None else "")]
    if not schema_errors:
        detail = f"{error}" + (f" ({cause})" if cause is not None else "")
        return [detail]
    messages = []
    for schema_error in schema_errors:
        path = list(schema_error.absolute_path)
        if request_body is not None and _forgiven_read_only(schema_error, path, request_body):
            continue
        location = "/".join(str(part) for part in path) or "(body)"
        messages.append(f"{type(error).__name__} at {location}: {schema_error.message}")
    return messages


def _forgiven_read_only(schema_error, path, body) -> bool:
    if not path or not schema_error.message.startswith("Tried to write read-only property"):
        return False
    if path[-1] in ALWAYS_SENT_READ_ONLY:
        return True
    container = body
    try:
        for part in path[:-1]:
            container = container[part]
    except (KeyError, IndexError, TypeError):
        return False
    return isinstance(container, dict) and any(container.get(key) for key in RECORD_ID_KEYS)
