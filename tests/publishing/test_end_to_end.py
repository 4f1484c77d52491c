"""End to end: upload by API with a developer token → scan on a real Celery worker → approve in the admin review
console (Django's test client) → published, installable and searchable."""

import time

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client
from rest_framework.test import APIClient

from developers.services import developer_token_create
from marketplace.models import Plugin, PluginVersion
from tests.publishing.packages import build


def wait_for_status(version_id, statuses, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        version = PluginVersion.objects.get(pk=version_id)
        if version.status in statuses:
            return version
        time.sleep(0.25)
    raise AssertionError(f"version stayed {version.status} for {timeout} s")


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_upload_scan_on_worker_review_in_admin_publish_and_search(celery_worker, developer, reviewer):
    _, raw = developer_token_create(developer=developer, name="ci", scopes=["publish"])
    cli = APIClient()
    cli.credentials(HTTP_AUTHORIZATION=f"Bearer {raw}")

    response = cli.post("/api/developer/plugins",
                        {"plugin_package": SimpleUploadedFile("quiz.zip", build(), "application/zip"),
                         "metadata": '{"changelog": "First release."}'}, format="multipart")
    assert response.status_code == 201, response.content
    version_id = response.json()["version"]["id"]

    version = wait_for_status(version_id, {"passed", "rejected", "quarantined", "errored"})
    assert version.status == "passed", version.submission.findings or version.submission.scan_error
    assert version.submission.scan_count == 0 and version.submission.scanned_at is not None
    status = cli.get(f"/api/developer/versions/{version_id}").json()
    assert status["status"] == "passed" and status["quality"]["score"] == 100

    console = Client()
    console.force_login(reviewer)
    queue = console.get("/admin/developers/submission/")
    assert str(version.submission.pk) in queue.content.decode()
    page = console.get(f"/admin/developers/submission/{version.submission.pk}/change/")
    assert page.status_code == 200 and b"assessments:grade" in page.content
    decided = console.post(f"/admin/developers/submission/{version.submission.pk}/decide/",
                           {"action": "approve", "reason": "Scopes match the code; tests shipped."})
    assert decided.status_code == 302

    version.refresh_from_db()
    plugin = Plugin.objects.get(pk="quiz-helper")
    assert version.status == "approved"
    assert plugin.version == "1.0.0" and plugin.is_published
    mine = cli.get("/api/developer/plugins").json()["results"][0]
    assert mine["versions"][0]["reviewer_note"] == "Scopes match the code; tests shipped."

    search = APIClient().get("/api/marketplace/plugins", {"q": "quiz"})
    assert search.status_code == 200
    assert "quiz-helper" in search.content.decode()
