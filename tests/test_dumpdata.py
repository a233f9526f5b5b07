"""`manage.py dumpdata` writes secrets at rest (Xero tokens, gateway passwords) encrypted, never in clear,
in every format; loaddata reads them back."""

import io

import pytest
from django.core.management import call_command

from payments.models import PaymentGatewaySettings

from .factories import GatewaySettingsFactory

SECRET = "gw-secret-that-stays-encrypted"


@pytest.mark.django_db
@pytest.mark.parametrize("fmt", ["json", "jsonl", "yaml", "xml"])
def test_dumpdata_keeps_secrets_encrypted_and_loaddata_reads_them(fmt, tmp_path):
    gateway = GatewaySettingsFactory(gateway_password=SECRET, gateway_user="demo")
    out = io.StringIO()
    call_command("dumpdata", "payments.paymentgatewaysettings", format=fmt, stdout=out)
    dump = out.getvalue()
    assert SECRET not in dump
    assert "demo" in dump and "gAAAAA" in dump  # the other fields as usual; the password as a Fernet token
    fixture = tmp_path / f"gateway.{fmt}"
    fixture.write_text(dump)
    PaymentGatewaySettings.objects.filter(pk=gateway.pk).update(gateway_password="overwritten")
    call_command("loaddata", str(fixture), verbosity=0)
    assert PaymentGatewaySettings.objects.get(pk=gateway.pk).gateway_password == SECRET
