import pytest
from django.contrib.auth.models import Group, Permission
from rest_framework.test import APIClient

from developers.services import developer_token_create
from tests.factories import DeveloperFactory, UserFactory


@pytest.fixture
def developer(db):
    return DeveloperFactory(company_name="Acme Learning", payment_account_id="acct_123")


@pytest.fixture
def api(developer):
    client = APIClient()
    client.force_authenticate(developer.user)
    return client


@pytest.fixture
def token_client(developer):
    def make(scopes=("publish",), dev=None, **kwargs):
        _, raw = developer_token_create(developer=dev or developer, name="ci", scopes=list(scopes), **kwargs)
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")
        return client
    return make


@pytest.fixture
def reviewer(db):
    user = UserFactory(username="reviewer", email="reviewer@example.test", is_staff=True)
    group, _ = Group.objects.get_or_create(name="Plugin reviewers")
    group.permissions.add(*Permission.objects.filter(
        content_type__app_label="developers", codename__in=["review_submission", "view_submission",
                                                            "change_submission"]))
    user.groups.add(group)
    return user
