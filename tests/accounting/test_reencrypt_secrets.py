"""Rotating DJANGO_SECRET_KEY or ENCRYPTION_SALT: old values stay readable through the fallbacks, and
`reencrypt_secrets` rewrites them with the current key so the fallbacks can go."""

import io

import pytest
from django.core.management import CommandError, call_command
from django.test.signals import setting_changed

from accounting.management.commands.reencrypt_secrets import forget_cached_keys
from payments.models import PaymentGatewaySettings

from ..factories import GatewaySettingsFactory

OLD_KEY = "old-key-0123456789-abcdefghijklmnopqrstuvwxyz-ABCDEFGHIJ"
NEW_KEY = "new-key-9876543210-zyxwvutsrqponmlkjihgfedcba-JIHGFEDCBA"


@pytest.fixture(autouse=True)
def keys_follow_settings():
    def forget(setting, **kwargs):
        if setting in ("SECRET_KEY", "SECRET_KEY_FALLBACKS", "SALT_KEY"):
            forget_cached_keys()

    setting_changed.connect(forget)
    yield
    setting_changed.disconnect(forget)
    forget_cached_keys()


def reencrypt(*args) -> str:
    out = io.StringIO()
    call_command("reencrypt_secrets", *args, stdout=out)
    return out.getvalue()


def password_of(gateway) -> str:
    return PaymentGatewaySettings.objects.get(pk=gateway.pk).gateway_password


@pytest.mark.django_db
def test_rotating_the_secret_key(settings):
    settings.SECRET_KEY = OLD_KEY
    gateway = GatewaySettingsFactory(gateway_password="gateway-secret")
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW_KEY, [OLD_KEY]
    assert password_of(gateway) == "gateway-secret"
    assert "1 value(s) still need an old key." in reencrypt("--check")
    assert "payments.PaymentGatewaySettings.gateway_password: 1 value(s) re-encrypted" in reencrypt()
    settings.SECRET_KEY_FALLBACKS = []
    assert password_of(gateway) == "gateway-secret"
    assert "0 value(s) still need an old key." in reencrypt("--check")


@pytest.mark.django_db
def test_rotating_the_salt(settings):
    settings.SALT_KEY = ["old-salt"]
    gateway = GatewaySettingsFactory(gateway_password="gateway-secret")
    settings.SALT_KEY = ["new-salt", "old-salt"]
    assert "1 value(s) re-encrypted" in reencrypt()
    settings.SALT_KEY = ["new-salt"]
    assert password_of(gateway) == "gateway-secret"


@pytest.mark.django_db
def test_a_value_no_key_can_read_is_named_and_left_alone(settings):
    settings.SECRET_KEY = OLD_KEY
    gateway = GatewaySettingsFactory(gateway_password="gateway-secret")
    settings.SECRET_KEY = NEW_KEY
    with pytest.raises(CommandError, match=rf"PaymentGatewaySettings.gateway_password #{gateway.pk}.*FALLBACKS"):
        reencrypt()
    settings.SECRET_KEY, settings.SECRET_KEY_FALLBACKS = NEW_KEY, [OLD_KEY]
    assert password_of(gateway) == "gateway-secret"
