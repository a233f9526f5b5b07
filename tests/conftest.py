"""Shared fixtures. Tests use the real database (SQLite or PostgreSQL per DATABASE_URL)."""

import pytest

from payments.models import Membership

from .factories import MembershipFactory, UserFactory, WhitelabelFactory


@pytest.fixture
def whitelabel(db):
    return WhitelabelFactory(name="Acme Telecom", slug="acme")


@pytest.fixture
def admin_user(whitelabel):
    return MembershipFactory(whitelabel=whitelabel, role=Membership.Role.ADMIN, user=UserFactory(username="acme-admin")).user


@pytest.fixture
def admin_client(client, admin_user):
    client.force_login(admin_user)
    return client
