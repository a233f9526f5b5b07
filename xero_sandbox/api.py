"""The Accounting API under /api.xro/2.0: authentication, tenant check, rate limits, faults,
idempotency, then the resource handlers.

Order of checks for each call: Bearer token (401) and scope (401 AuthorizationUnsuccessful),
``xero-tenant-id`` connected to the token's user and app (403), rate limits (429), injected faults,
``Idempotency-Key`` replay, and finally the handler, which runs under the sandbox lock.
"""
import hashlib
import json
from dataclasses import dataclass

from flask import Blueprint, Response, g, request

from . import oauth
from .errors import XeroError, bad_request, forbidden, not_found, unauthorized
from .faults import drop_connection, status_response_parts
from .identity import sandbox
from .ratelimit import RateLimited
from .resources import handlers
from .resources.common import Ctx, unit_places
from .sandbox import StoredResponse
from .wire import dumps, new_id

bp = Blueprint("accounting", __name__, url_prefix="/api.xro/2.0")

WRITE_SCOPES = {
    "contacts": {"accounting.contacts"},
    "invoices": {"accounting.invoices", "accounting.transactions"},
    "creditnotes": {"accounting.invoices", "accounting.transactions"},
    "payments": {"accounting.payments", "accounting.transactions"},
    "overpayments": {"accounting.payments", "accounting.transactions"},
    "prepayments": {"accounting.payments", "accounting.transactions"},
    "banktransactions": {"accounting.banktransactions", "accounting.transactions"},
    "organisation": {"accounting.settings"},
    "accounts": {"accounting.settings"},
    "taxrates": {"accounting.settings"},
    "currencies": {"accounting.settings"},
    "trackingcategories": {"accounting.settings"},
}
MAX_IDEMPOTENCY_KEY = 128


@dataclass
class Caller:
    client_id: str
    provider_name: str
    tenant_id: str


@bp.route("/<path:resource>", methods=["GET", "PUT", "POST", "DELETE"])
def dispatch(resource):
    box = sandbox()
    route = handlers.match(request.method, resource)
    g.endpoint = f"{request.method} {route[2] if route else resource.split('/', 1)[0]}"
    caller = _authenticate(box, resource)
    g.client_id = caller.client_id
    if route is None:
        raise not_found()
    try:
        with box.limiter.slot(caller.tenant_id, caller.client_id) as limit_headers:
            try:
                response = _call(box, caller, route)
            except XeroError as error:
                response = _json(error.status, error.body, error.headers)
    except RateLimited as limited:
        g.rate_limited = limited.problem
        headers = {**limited.headers, "Retry-After": str(limited.retry_after), "X-Rate-Limit-Problem": limited.problem}
        body = {"Title": "Too Many Requests", "Status": 429, "Detail": f"Rate limit exceeded: {limited.problem}"}
        return _json(429, body, headers)
    response.headers.update(limit_headers)
    return response


def _authenticate(box, resource) -> Caller:
    with box.lock:
        claims = oauth.verify_access_token(box, request.headers.get("Authorization"))
        _check_scope(claims, resource)
        tenant_id = (request.headers.get("xero-tenant-id") or "").strip().lower()
        if not tenant_id:
            raise forbidden("missing xero-tenant-id header")
        connected = any(
            c.tenant_id == tenant_id for c in oauth.user_connections(box.identity, claims["client_id"])
        )
        if not connected or box.book(tenant_id) is None:
            raise forbidden("no connection between this user/app and the tenant")
        client = box.config.client(claims["client_id"])
        return Caller(client_id=client.client_id, provider_name=client.name, tenant_id=tenant_id)


def _check_scope(claims, resource) -> None:
    collection = resource.split("/", 1)[0].lower()
    needed = WRITE_SCOPES.get(collection)
    if needed is None:
        return
    if request.method == "GET":
        needed = needed | {scope + ".read" for scope in needed}
    if not needed & set(claims.get("scope") or []):
        raise unauthorized(detail="AuthorizationUnsuccessful", reason=f"token lacks a scope among {sorted(needed)}")


def _call(box, caller: Caller, route) -> Response:
    hit = box.faults.take(request.method, request.path)
    if hit is not None:
        g.fault = hit.fault.mode
        if hit.fault.mode == "status":
            status, body, headers = status_response_parts(hit.fault, request.path)
            return _json(status, body, headers)
        if hit.fault.mode == "timeout":
            hit.hold()
            drop_connection(request.environ)
            return _json(504, {"Title": "Gateway Timeout", "Status": 504, "Detail": "dropped by a timeout fault"})
        if hit.fault.mode == "slow":
            hit.hold()  # then processed as usual, whether or not the client is still there
        elif hit.fault.mode == "drop_response":
            g.drop_connection = True
    response = _answer(box, caller, route)
    if hit is not None and hit.fault.mode == "status_after":
        status, body, headers = status_response_parts(hit.fault, request.path)
        return _json(status, body, headers)
    return response


def _answer(box, caller: Caller, route) -> Response:
    key = request.headers.get("Idempotency-Key")
    if key is not None and request.method in ("PUT", "POST"):
        return _idempotent(box, caller, route, key)
    with box.lock:
        status, body = _run(box, caller, route)
    return _json(status, body)


def _idempotent(box, caller: Caller, route, key: str) -> Response:
    if not key or len(key) > MAX_IDEMPOTENCY_KEY:
        raise bad_request(f"The Idempotency-Key header must be 1 to {MAX_IDEMPOTENCY_KEY} characters long")
    fingerprint = hashlib.sha256(
        b"\n".join([request.method.encode(), request.path.lower().encode(),
                    request.query_string, request.get_data()])
    ).hexdigest()
    with box.lock:
        now = box.clock.timestamp()
        _forget_old_keys(box, now)
        store_key = (caller.tenant_id, caller.client_id, key)
        stored = box.idempotency.get(store_key)
        if stored is not None:
            if stored.fingerprint != fingerprint:
                raise XeroError(400, {
                    "ErrorNumber": 10,
                    "Type": "ValidationException",
                    "Message": "The Idempotency-Key has already been used with a different request. "
                               "Use a new key for a new request.",
                    "Elements": [],
                })
            g.idempotent_replay = True
            return Response(stored.body, status=stored.status, mimetype="application/json")
        try:
            status, body = _run(box, caller, route)
        except XeroError as error:
            status, body = error.status, error.body
        text = dumps(body)
        if status < 500:
            box.idempotency[store_key] = StoredResponse.keep(fingerprint, status, text.encode(), now)
    return Response(text, status=status, mimetype="application/json")


def _forget_old_keys(box, now: float) -> None:
    """Keys are kept in the order they were stored, so the expired ones are at the front."""
    window = box.config.idempotency_window
    while box.idempotency:
        key, stored = next(iter(box.idempotency.items()))
        if now - stored.stored_at <= window:
            return
        del box.idempotency[key]


def _run(box, caller: Caller, route) -> tuple[int, dict]:
    handler, params, _ = route
    body = _request_json() if request.method in ("PUT", "POST") else None
    ctx = Ctx(book=box.book(caller.tenant_id), now=box.clock.now())
    call = handlers.Call(ctx=ctx, provider_name=caller.provider_name, params=params, query=request.args,
                         headers=request.headers, body=body)
    try:
        with unit_places(4 if request.args.get("unitdp") == "4" else 2):
            return handler(call)
    finally:
        # Also after a failed batch: with summarizeErrors its good elements are kept, as in Xero.
        if request.method != "GET":
            box.commit(ctx)


def _request_json():
    raw = request.get_data()
    if not raw.strip():
        return {}
    try:
        return json.loads(raw)
    except ValueError:
        raise bad_request("JSON for post data was invalid", number=14, type_="PostDataInvalidException") from None


def _json(status: int, body, headers=None) -> Response:
    response = Response(dumps(body), status=status, mimetype="application/json")
    response.headers["Xero-Correlation-Id"] = new_id()
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response
