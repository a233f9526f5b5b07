"""Identity endpoints on Xero's paths: the consent page, token, revocation and connections."""
from urllib.parse import urlencode

from flask import Blueprint, Response, current_app, redirect, render_template, request

from . import oauth
from .errors import XeroError, not_found
from .seed import USER_EMAIL
from .wire import dumps, is_guid, rfc3339

bp = Blueprint("identity", __name__)


def sandbox():
    """The Sandbox behind the current Flask app."""
    return current_app.extensions["xero_sandbox"]


def json_response(body, status=200, headers=None) -> Response:
    response = Response(dumps(body), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


@bp.route("/identity/connect/authorize", methods=["GET", "POST"])
def authorize():
    box = sandbox()
    params = request.args if request.method == "GET" else request.form
    with box.lock:
        try:
            auth = oauth.parse_authorize(box.config, params)
        except oauth.AuthorizePageError as error:
            return render_template("error.html", message=str(error), user_email=USER_EMAIL), 400
        except oauth.AuthorizeRedirectError as error:
            return _back_to_app(params["redirect_uri"], error=error.error, error_description=error.description,
                                state=params.get("state"))
        limit_reached = _connection_limit_reached(box, auth.client, request.form.getlist("tenant_id"))
        if limit_reached:
            return render_template("error.html", message=limit_reached, user_email=USER_EMAIL), 403
        if request.method == "GET":
            return _consent_page(box, auth)
        action = request.form.get("action")
        if action == "cancel":
            return _back_to_app(auth.redirect_uri, error="access_denied", state=auth.state)
        if action != "allow":
            return render_template("error.html", message="Unknown action.", user_email=USER_EMAIL), 400
        tenant_ids = [t.lower() for t in request.form.getlist("tenant_id")]
        if any(box.book(t) is None for t in tenant_ids):
            return render_template("error.html", message="Unknown organisation.", user_email=USER_EMAIL), 400
        if not tenant_ids:
            return _consent_page(box, auth, error="Select at least one organisation to connect.")
        code = oauth.grant_consent(box, auth, tenant_ids)
        box.save()
    return _back_to_app(auth.redirect_uri, code=code, scope=" ".join(auth.scopes), state=auth.state,
                        session_state=code[:16])


def _connection_limit_reached(box, client, tenant_ids: list[str]) -> str | None:
    """Xero's words when the app already holds as many organisations as an uncertified app may (and this
    consent would add another); None otherwise."""
    limit = box.config.app_connection_limit
    held = {c.tenant_id for c in box.identity.connections.values() if c.client_id == client.client_id}
    adding = {t.lower() for t in tenant_ids} - held
    if not limit or len(held) < limit or (tenant_ids and not adding):
        return None
    if len(held) + len(adding) <= limit:
        return None
    return f"{client.name} needs to complete certification before it can connect to more Xero organisations."


def _consent_page(box, auth, error=None, status=200):
    chosen = set(request.form.getlist("tenant_id")) if request.method == "POST" else None
    organisations = [
        {
            "tenant_id": tenant_id,
            "name": book.organisation.name,
            "country": book.organisation.country_code,
            "currency": book.organisation.base_currency,
            "sales_tax": _sales_tax(book),
            "checked": (index == 0) if chosen is None else tenant_id in chosen,
        }
        for index, (tenant_id, book) in enumerate(box.books.items())
    ]
    html = render_template(
        "consent.html", app_name=auth.client.name, scope_phrases=oauth.describe_scopes(auth.scopes),
        organisations=organisations, hidden=auth.hidden_fields(), action=request.path, error=error,
        user_email=USER_EMAIL,
    )
    return html, status


def _sales_tax(book) -> str:
    """The organisation's sales tax in a few words, e.g. "GST 10%": its highest active rate on revenue."""
    rates = [r for r in book.tax_rates.values() if r.status == "ACTIVE" and r.can_apply_to_revenue]
    if not rates:
        return ""
    top = max(rates, key=lambda r: r.rate)
    return f"{top.component_name} {top.rate.normalize():f}%"


def _back_to_app(redirect_uri: str, **params):
    query = urlencode({key: value for key, value in params.items() if value is not None})
    separator = "&" if "?" in redirect_uri else "?"
    return redirect(f"{redirect_uri}{separator}{query}", code=302)


@bp.route("/connect/token", methods=["POST"])
def token():
    box = sandbox()
    with box.lock:
        try:
            client = oauth.authenticate_client(box.config, request.form, request.headers.get("Authorization"))
            grant_type = request.form.get("grant_type")
            if grant_type == "authorization_code":
                body = oauth.exchange_code(box, client, request.form)
            elif grant_type == "refresh_token":
                body = oauth.refresh(box, client, request.form)
            else:
                raise oauth.OAuthError("unsupported_grant_type")
        except oauth.OAuthError as error:
            headers = {"WWW-Authenticate": 'Basic realm="identity"'} if error.status == 401 else {}
            return json_response(error.body(), error.status, headers)
        box.save()
    return json_response(body)


@bp.route("/connect/revocation", methods=["POST"])
def revocation():
    box = sandbox()
    with box.lock:
        try:
            client = oauth.authenticate_client(box.config, request.form, request.headers.get("Authorization"))
        except oauth.OAuthError as error:
            return json_response(error.body(), error.status)
        oauth.revoke(box, client, request.form.get("token"))
        box.save()
    return Response(status=200)


@bp.route("/connections", methods=["GET"])
@bp.route("/Connections", methods=["GET"])
def connections():
    box = sandbox()
    with box.lock:
        claims = oauth.verify_access_token(box, request.headers.get("Authorization"))
        event = request.args.get("authEventId")
        if event is not None and not is_guid(event):
            raise XeroError(400, {"Title": "BadRequest", "Status": 400, "Detail": "authEventId must be a GUID"})
        found = [
            connection_json(box, c)
            for c in oauth.user_connections(box.identity, claims["client_id"])
            if event is None or c.auth_event_id == event.lower()
        ]
    return json_response(found)


@bp.route("/connections/<connection_id>", methods=["DELETE"])
@bp.route("/Connections/<connection_id>", methods=["DELETE"])
def delete_connection(connection_id):
    box = sandbox()
    with box.lock:
        claims = oauth.verify_access_token(box, request.headers.get("Authorization"))
        connection = box.identity.connections.get(connection_id.lower())
        if connection is None or connection.client_id != claims["client_id"]:
            raise not_found()
        del box.identity.connections[connection.connection_id]
        box.save()
    return Response(status=204)


def connection_json(box, connection) -> dict:
    book = box.book(connection.tenant_id)
    return {
        "id": connection.connection_id,
        "authEventId": connection.auth_event_id,
        "tenantId": connection.tenant_id,
        "tenantType": "ORGANISATION",
        "tenantName": book.organisation.name if book else "",
        "createdDateUtc": rfc3339(connection.created_utc),
        "updatedDateUtc": rfc3339(connection.updated_utc),
    }
