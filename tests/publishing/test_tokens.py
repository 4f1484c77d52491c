"""Developer API tokens: shown once, stored hashed, scoped, expiring, revocable; attacked as a stranger would."""

import hashlib
from datetime import timedelta

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.utils import timezone
from rest_framework.test import APIClient

from developers.models import DeveloperToken
from tests.factories import DeveloperFactory
from tests.publishing.packages import build

pytestmark = pytest.mark.django_db


def upload(client):
    return client.post("/api/developer/plugins",
                       {"plugin_package": SimpleUploadedFile("p.zip", build(), "application/zip")},
                       format="multipart")


def test_token_is_shown_once_and_stored_hashed(api, developer):
    response = api.post("/api/developer/tokens", {"name": "ci", "scopes": ["publish"]}, format="json")

    assert response.status_code == 201
    raw = response.json()["token"]
    assert raw.startswith("aisq_") and len(raw) > 40
    token = DeveloperToken.objects.get(developer=developer)
    assert token.token_hash == hashlib.sha256(raw.encode()).hexdigest()
    assert token.last_four == raw[-4:]
    assert raw not in str(DeveloperToken.objects.values())
    listed = api.get("/api/developer/tokens").json()["results"]
    assert listed[0]["last_four"] == raw[-4:] and "token" not in listed[0]


def test_a_publish_token_uploads_and_reads(token_client):
    client = token_client(["publish"])
    assert upload(client).status_code == 201
    assert client.get("/api/developer/plugins").status_code == 200


def test_a_read_token_cannot_publish(token_client):
    client = token_client(["read"])
    response = upload(client)
    assert response.status_code == 403
    assert client.get("/api/developer/plugins").status_code == 200


def test_revoked_expired_and_forged_tokens_are_refused(token_client, developer):
    client = token_client(["publish"])
    token = DeveloperToken.objects.get(developer=developer)
    token.revoked_at = timezone.now()
    token.save()
    assert client.get("/api/developer/plugins").status_code == 401

    expired = token_client(["publish"], expires_in_days=1)
    DeveloperToken.objects.filter(revoked_at__isnull=True).update(expires_at=timezone.now() - timedelta(seconds=1))
    assert expired.get("/api/developer/plugins").status_code == 401

    forged = APIClient()
    forged.credentials(HTTP_AUTHORIZATION="Bearer aisq_" + "A" * 43)
    response = forged.get("/api/developer/plugins")
    assert response.status_code == 401
    assert response["WWW-Authenticate"] == "Bearer"


def test_a_token_cannot_mint_more_tokens(token_client):
    client = token_client(["publish"])
    response = client.post("/api/developer/tokens", {"name": "x", "scopes": ["publish"]}, format="json")
    assert response.status_code == 403


def test_a_token_sees_only_its_developers_plugins(token_client, developer):
    upload(token_client(["publish"]))
    stranger = DeveloperFactory()
    theirs = token_client(["read"], dev=stranger)
    assert theirs.get("/api/developer/plugins").json()["results"] == []
    assert theirs.get("/api/developer/plugins/quiz-helper").status_code == 404


def test_a_developer_cannot_revoke_anothers_token(api, developer):
    from developers.services import developer_token_create

    other_token, _ = developer_token_create(developer=DeveloperFactory(), name="theirs", scopes=["read"])
    response = api.delete(f"/api/developer/tokens/{other_token.pk}")
    assert response.status_code == 404
    other_token.refresh_from_db()
    assert other_token.revoked_at is None


def test_revoking_own_token(api, developer):
    created = api.post("/api/developer/tokens", {"name": "ci", "scopes": ["read"]}, format="json").json()
    assert api.delete(f"/api/developer/tokens/{created['id']}").status_code == 204
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {created['token']}")
    assert client.get("/api/developer/plugins").status_code == 401


def test_unknown_scopes_and_silly_expiry_are_refused(api):
    assert api.post("/api/developer/tokens", {"name": "x", "scopes": ["admin"]}, format="json").status_code == 400
    assert api.post("/api/developer/tokens", {"name": "x", "scopes": ["read"], "expires_in_days": 9999},
                    format="json").status_code == 400


def test_a_developer_token_is_not_a_key_to_the_rest_of_the_api(token_client):
    client = token_client(["publish", "read"])
    for method, path in (("post", "/api/plugins/install"), ("get", "/api/plugins/installed"),
                         ("post", "/api/marketplace/plugins/quiz-helper/review")):
        response = getattr(client, method)(path, {}, format="json")
        assert response.status_code == 401, (path, response.status_code)
