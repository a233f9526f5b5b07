"""More organisations than the two seeded ones, for benchmarks with many whitelabels: from the command
line, the environment or the control API; each one can be granted on the consent page and booked to."""
import pytest

from xero_sandbox.__main__ import build_config, parse_args
from xero_sandbox.config import SandboxConfig
from xero_sandbox.seed import ORG1_TENANT_ID, ORG2_TENANT_ID, seed_books, tenant_id_of

from .conftest import RawApi
from .test_accounting import create_invoice


def test_organisations_come_from_the_command_line_or_the_environment():
    assert build_config(parse_args([]), {}).organisations == 2
    assert build_config(parse_args([]), {"XERO_SANDBOX_ORGANISATIONS": "7"}).organisations == 7
    assert build_config(parse_args(["--organisations", "50"]), {"XERO_SANDBOX_ORGANISATIONS": "7"}).organisations == 50
    with pytest.raises(ValueError, match="organisations must be from 2"):
        SandboxConfig().update({"organisations": 1})


def test_extra_organisations_copy_organisation_1_under_their_own_ids():
    books = seed_books(4)

    assert list(books)[:2] == [ORG1_TENANT_ID, ORG2_TENANT_ID]
    assert [b.organisation.name for b in books.values()] == [f"Organisation {n}" for n in range(1, 5)]
    org1, org4 = books[ORG1_TENANT_ID], books[tenant_id_of(4)]
    assert len(set(books)) == 4 and tenant_id_of(4) == seed_books(4)[tenant_id_of(4)].tenant_id, "fixed ids"
    assert (org4.organisation.country_code, org4.organisation.base_currency) == ("AU", "AUD")
    assert org4.organisation.organisation_id == tenant_id_of(4)
    assert sorted(a.code for a in org4.accounts.values()) == sorted(a.code for a in org1.accounts.values())
    assert not set(org4.accounts) & set(org1.accounts), "account ids belong to their organisation"
    assert set(org4.tax_rates) == set(org1.tax_rates)


def test_organisations_added_through_the_control_api_can_be_granted_and_booked_to(xero_sandbox):
    listed = xero_sandbox.add_organisations(5)

    assert [o["name"] for o in listed] == [f"Organisation {n}" for n in range(1, 6)]
    org5 = listed[4]["tenant_id"]
    assert org5 == tenant_id_of(5)
    token = xero_sandbox.connect(tenant_ids=[org5])
    raw = RawApi(xero_sandbox, token, org5)
    invoice = create_invoice(raw)
    assert invoice["Status"] == "AUTHORISED" and invoice["LineItems"][0]["TaxType"] == "OUTPUT"
    assert [c["tenantName"] for c in raw.http.get(
        f"{xero_sandbox.url}/connections", headers={"Authorization": f"Bearer {token['access_token']}"}, timeout=5
    ).json()] == ["Organisation 5"]
    assert xero_sandbox.tenant_stats(org5)["name"] == "Organisation 5"
    assert xero_sandbox.org_state(org5)["invoices"][0]["InvoiceID"] == invoice["InvoiceID"]
    assert not xero_sandbox.org_state(ORG1_TENANT_ID)["invoices"], "books are separate"


def test_adding_keeps_existing_books_and_a_reset_keeps_the_count_until_the_config_is_reset(xero_sandbox):
    xero_sandbox.add_organisations(3)
    raw = RawApi(xero_sandbox, xero_sandbox.connect(tenant_ids=[tenant_id_of(3)]), tenant_id_of(3))
    create_invoice(raw)

    assert len(xero_sandbox.add_organisations(2)) == 3, "never removes any"
    assert len(xero_sandbox.add_organisations(4)) == 4
    assert len(xero_sandbox.org_state(tenant_id_of(3))["invoices"]) == 1, "existing books are kept"
    xero_sandbox.reset(config=False)
    assert len(xero_sandbox.organisations()) == 4
    assert not xero_sandbox.org_state(tenant_id_of(3))["invoices"]
    xero_sandbox.reset(config=True)
    assert [o["tenant_id"] for o in xero_sandbox.organisations()] == [ORG1_TENANT_ID, ORG2_TENANT_ID]


def test_a_bad_count_is_refused(xero_sandbox):
    for count in ("3", None, True, 5000):
        response = xero_sandbox.http.post(f"{xero_sandbox.url}/_sandbox/organisations", json={"count": count})
        assert response.status_code == 400, count
    assert len(xero_sandbox.organisations()) == 2
