import io
import re

import pytest
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.management import CommandError, call_command

from payments.models import Customer, Invoice, Membership, Payment, Receipt, Whitelabel

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def debug_on(request, settings):
    """`make run` loads the demo data with debug on; tests marked `without_debug` see a deployment."""
    settings.DEBUG = "without_debug" not in request.keywords


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


@pytest.mark.without_debug
def test_without_debug_the_demo_data_is_refused_unless_asked_for_explicitly():
    with pytest.raises(CommandError, match="DJANGO_DEBUG is off.*--allow-without-debug"):
        call_command("load_demo_data", stdout=io.StringIO())
    assert counts() == [0, 0, 0, 0, 0, 0]
    assert not get_user_model().objects.exists()


@pytest.mark.without_debug
def test_without_debug_the_demo_users_get_fresh_random_passwords_printed_once():
    out = io.StringIO()
    call_command("load_demo_data", "--allow-without-debug", stdout=out)
    logins = dict(re.findall(r"Log in as (\w+) / (\S+) ", out.getvalue()))
    assert set(logins) == {"admin", "support"}
    assert "arena-demo" not in out.getvalue()
    assert logins["admin"] != logins["support"] and all(len(p) >= 16 for p in logins.values())
    users = get_user_model().objects
    assert users.get(username="admin").check_password(logins["admin"])
    assert users.get(username="support").check_password(logins["support"])
    assert not users.get(username="admin").check_password("arena-demo")

    again = io.StringIO()
    call_command("load_demo_data", "--allow-without-debug", stdout=again)
    assert "Log in as admin / (its existing password: unchanged)" in again.getvalue()
    assert users.get(username="admin").check_password(logins["admin"]), "a second run keeps the passwords"


@pytest.mark.without_debug
def test_without_debug_a_weak_password_is_refused():
    with pytest.raises(CommandError, match="--password is too weak"):
        call_command("load_demo_data", "--allow-without-debug", "--password", "arena-demo", stdout=io.StringIO())
    assert not get_user_model().objects.exists()
