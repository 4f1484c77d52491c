"""A small platform for the Plugin API tests: two organizations, their people and objects, and installations."""

from dataclasses import dataclass

import pytest

from host import services as host_services
from host.models import Membership
from runtime.plugin_api import audit, gateway
from tests.factories import InstallationFactory, MembershipFactory, OrganizationFactory, PluginFactory, UserFactory


@dataclass
class World:
    org: object
    admin: object
    member: object
    other_org: object
    outsider: object
    content: object
    foreign_content: object
    assessment: object
    submission: object
    foreign_assessment: object
    foreign_submission: object


@pytest.fixture
def world(db):
    org, other_org = OrganizationFactory(), OrganizationFactory()
    admin = UserFactory(role="org_admin")
    member, outsider = UserFactory(), UserFactory()
    MembershipFactory(organization=org, user=admin, role=Membership.Role.ADMIN)
    MembershipFactory(organization=org, user=member)
    MembershipFactory(organization=other_org, user=outsider)
    content = host_services.content_create(title="Fractions", body="Halves and quarters.", org=org, author=admin)
    foreign_content = host_services.content_create(title="Secret", org=other_org, author=outsider)
    assessment = host_services.assessment_create(title="Quiz 1", org=org, author=admin, max_score=10)
    submission = host_services.submission_create(assessment=assessment, user=member, content="One half is 1/2.")
    foreign_assessment = host_services.assessment_create(title="Their quiz", org=other_org, author=outsider)
    foreign_submission = host_services.submission_create(assessment=foreign_assessment, user=outsider, content="x")
    return World(org, admin, member, other_org, outsider, content, foreign_content, assessment, submission,
                 foreign_assessment, foreign_submission)


@pytest.fixture
def install(world):
    """install(scopes, org=world.org, user=world.admin) -> an active installation with exactly these scopes."""

    def make(scopes=(), *, org="default", user=None, plugin=None, **extra):
        return InstallationFactory(
            plugin=plugin or PluginFactory(), user=user or world.admin, org=world.org if org == "default" else org,
            permissions=list(scopes), **extra,
        )

    return make


@pytest.fixture
def call():
    """call(installation, method, **params): one Plugin API request as a worker sends it; the audit is flushed."""

    def run(installation, method, acting_user_id=None, **params):
        try:
            return gateway.call(installation_id=installation.pk, method=method, params=params,
                                acting_user_id=acting_user_id)
        finally:
            audit.flush()

    return run


@pytest.fixture(autouse=True)
def _empty_audit_buffer():
    audit.discard()
    yield
    audit.discard()
