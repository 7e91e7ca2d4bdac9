"""Shared fixtures: two tenants and the people in them.

Tenant A (Acme): alice is its admin, bob a member. Tenant B (Globex): carol is a member.
Every password is PASSWORD.
"""

from dataclasses import dataclass

import pytest
from django.core.cache import cache

from accounts.models import Membership, Tenant, User
from tests.factories import MembershipFactory, TenantFactory, UserFactory

PASSWORD = "correct horse battery"


@pytest.fixture(autouse=True)
def _fast_and_plain(settings):
    # The MD5 hasher keeps sign-in tests fast; plain static storage needs no collectstatic.
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
    settings.STORAGES = {
        **settings.STORAGES,
        "staticfiles": {"BACKEND": "django.contrib.staticfiles.storage.StaticFilesStorage"},
    }
    yield
    cache.clear()


@dataclass
class World:
    tenant_a: Tenant
    tenant_b: Tenant
    alice: User
    bob: User
    carol: User


@pytest.fixture
def world(db):
    tenant_a = TenantFactory(slug="acme", name="Acme")
    tenant_b = TenantFactory(slug="globex", name="Globex")
    alice = UserFactory(username="alice", is_staff=True)
    bob = UserFactory(username="bob")
    carol = UserFactory(username="carol")
    MembershipFactory(user=alice, tenant=tenant_a, role=Membership.Role.ADMIN)
    MembershipFactory(user=bob, tenant=tenant_a)
    MembershipFactory(user=carol, tenant=tenant_b)
    return World(tenant_a, tenant_b, alice, bob, carol)
