import io

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command

from payments.models import Customer, Invoice, Membership, Payment, Receipt, Whitelabel

pytestmark = pytest.mark.django_db


def counts():
    return [model.objects.count() for model in (Whitelabel, Customer, Invoice, Payment, Receipt, Membership)]


def test_demo_data_prints_the_login_and_is_idempotent():
    out = io.StringIO()
    call_command("load_demo_data", stdout=out)
    assert "Log in as admin / arena-demo (whitelabel admin)" in out.getvalue()
    first = counts()
    assert first == [1, 3, 3, 2, 2, 2]
    call_command("load_demo_data", stdout=io.StringIO())
    assert counts() == first
    admin = get_user_model().objects.get(username="admin")
    assert admin.check_password("arena-demo") and not admin.is_staff
    assert Membership.objects.get(user=admin).role == Membership.Role.ADMIN
    assert get_user_model().objects.get(username="support").is_staff
