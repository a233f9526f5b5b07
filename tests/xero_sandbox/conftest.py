"""Shared fixtures for the sandbox's own tests: xero-python clients and plain HTTP access.

The ``xero_sandbox`` fixtures come from ``xero_sandbox.pytest_plugin``, listed in tests/conftest.py.
"""
from dataclasses import dataclass

import pytest
import requests
from xero_python.accounting import AccountingApi
from xero_python.api_client import ApiClient, Configuration
from xero_python.api_client.oauth2 import OAuth2Token, TokenApi
from xero_python.identity import IdentityApi

from xero_sandbox.seed import ORG1_TENANT_ID, ORG2_TENANT_ID


@dataclass
class Sdk:
    """xero-python, unmodified, pointed at the sandbox."""

    api_client: ApiClient
    accounting: AccountingApi
    identity: IdentityApi
    store: dict

    @property
    def token(self) -> dict:
        return self.store["token"]


def make_sdk(server, token: dict) -> Sdk:
    store = {"token": token}
    # Configuration() hands out copies of the first instance ever made in the process and ignores
    # later constructor arguments (xero-python's TypeWithDefault metaclass), so set the token after.
    configuration = Configuration()
    configuration.oauth2_token = OAuth2Token(client_id=server.client_id, client_secret=server.client_secret)
    api_client = ApiClient(
        configuration,
        pool_threads=1,
        oauth2_token_getter=lambda: store["token"],
        oauth2_token_saver=lambda new_token: store.update(token=new_token),
    )
    return Sdk(
        api_client=api_client,
        accounting=AccountingApi(api_client, base_url=server.url + "/api.xro/2.0"),
        identity=IdentityApi(api_client, base_url=server.url),
        store=store,
    )


@pytest.fixture
def sandbox_urls(xero_sandbox, monkeypatch):
    """Point xero-python's token and revocation URLs at the sandbox (monkeypatch restores them)."""
    monkeypatch.setattr(TokenApi, "refresh_token_url", xero_sandbox.url + "/connect/token")
    monkeypatch.setattr(TokenApi, "revoke_token_url", xero_sandbox.url + "/connect/revocation")
    monkeypatch.setenv("OAUTHLIB_INSECURE_TRANSPORT", "1")
    return xero_sandbox


@pytest.fixture
def sdk(sandbox_urls) -> Sdk:
    """xero-python connected to Organisation 1 and Organisation 2 (full OAuth flow over HTTP)."""
    token = sandbox_urls.connect(tenant_ids=[ORG1_TENANT_ID, ORG2_TENANT_ID])
    return make_sdk(sandbox_urls, token)


@pytest.fixture
def org1():
    return ORG1_TENANT_ID


@pytest.fixture
def org2():
    return ORG2_TENANT_ID


class RawApi:
    """Plain HTTP calls to the accounting API (for exact bodies, headers and statuses)."""

    def __init__(self, server, token: dict, tenant_id: str):
        self.server = server
        self.token = token
        self.tenant_id = tenant_id
        self.http = requests.Session()

    def call(self, method: str, path: str, json=None, params=None, headers=None, tenant_id=None, timeout=5):
        all_headers = {
            "Authorization": f"Bearer {self.token['access_token']}",
            "xero-tenant-id": tenant_id or self.tenant_id,
            "Accept": "application/json",
            **(headers or {}),
        }
        return self.http.request(method, f"{self.server.url}/api.xro/2.0/{path}", json=json, params=params,
                                 headers=all_headers, timeout=timeout)

    def get(self, path, **kwargs):
        return self.call("GET", path, **kwargs)

    def put(self, path, json, **kwargs):
        return self.call("PUT", path, json=json, **kwargs)

    def post(self, path, json, **kwargs):
        return self.call("POST", path, json=json, **kwargs)

    def reconnect(self) -> None:
        """A fresh token (after moving the clock past the access token's life)."""
        self.token = self.server.connect(tenant_ids=[ORG1_TENANT_ID, ORG2_TENANT_ID])

    def for_tenant(self, tenant_id: str) -> "RawApi":
        return RawApi(self.server, self.token, tenant_id)


@pytest.fixture
def raw(xero_sandbox) -> RawApi:
    """Plain HTTP access to Organisation 1 (Organisation 2 via ``raw.for_tenant``)."""
    return RawApi(xero_sandbox, xero_sandbox.connect(tenant_ids=[ORG1_TENANT_ID, ORG2_TENANT_ID]), ORG1_TENANT_ID)
