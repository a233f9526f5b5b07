import io

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
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
    support = get_user_model().objects.get(username="support")
    assert support.is_staff and not support.is_superuser
    assert list(support.groups.values_list("name", flat=True)) == ["Support"]


def test_demo_support_user_made_a_superuser_by_older_demo_data_is_put_back_in_the_support_group():
    call_command("load_demo_data", stdout=io.StringIO())
    get_user_model().objects.filter(username="support").update(is_superuser=True)
    Group.objects.filter(name="Support").delete()
    call_command("load_demo_data", stdout=io.StringIO())
    support = get_user_model().objects.get(username="support")
    assert support.is_staff and not support.is_superuser
    assert support.has_perm("accounting.retry_syncrecord") and not support.has_perm("payments.change_invoice")
