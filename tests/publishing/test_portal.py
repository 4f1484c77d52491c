"""Developer portal pages under /developer/: register, upload, scan report, listing edits, tokens — and strangers
kept out."""

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from developers.models import Developer, DeveloperToken
from marketplace.models import Plugin, PluginVersion
from tests.factories import DeveloperFactory, PluginFactory, PluginVersionFactory, UserFactory
from tests.publishing.packages import AWS_KEY, build

pytestmark = pytest.mark.django_db


@pytest.fixture
def portal(client, developer):
    client.force_login(developer.user)
    return client


def test_register_then_dashboard(client):
    user = UserFactory()
    client.force_login(user)
    assert client.get("/developer/").status_code == 302
    page = client.get("/developer/register/")
    assert page.status_code == 200 and b'<label for="id_company_name">' in page.content
    bad = client.post("/developer/register/", {"company_name": "", "website": "not a url"})
    assert bad.status_code == 400
    response = client.post("/developer/register/", {"company_name": "Bright Tools", "support_email": "a@b.test"})
    assert response.status_code == 302
    assert Developer.objects.get(user=user).company_name == "Bright Tools"
    assert client.get("/developer/").status_code == 200


def test_upload_form_then_scan_report(portal, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = portal.post("/developer/upload/", {
            "plugin_package": SimpleUploadedFile("p.zip", build(AWS_KEY), "application/zip"),
            "changelog": "First."})
    version = PluginVersion.objects.get()
    assert response.status_code == 302 and response["Location"] == f"/developer/versions/{version.pk}/"
    page = portal.get(response["Location"])
    html = page.content.decode()
    assert page.status_code == 200
    assert "Rejected" in html and "AWS access key" in html and "plugin.py:" in html
    assert "Quality score: 100 / 100" in html
    dashboard = portal.get("/developer/").content.decode()
    assert "quiz-helper" in dashboard and "Rejected" in dashboard


def test_upload_form_shows_the_refusal(portal):
    response = portal.post("/developer/upload/", {
        "plugin_package": SimpleUploadedFile("p.zip", b"not a zip", "application/zip")})
    assert response.status_code == 400
    assert b"not a valid zip archive" in response.content
    assert not PluginVersion.objects.exists()


def test_upload_form_answers_json_for_the_progress_script(portal):
    response = portal.post("/developer/upload/", {
        "plugin_package": SimpleUploadedFile("p.zip", build(), "application/zip")}, HTTP_ACCEPT="application/json")
    assert response.status_code == 201
    assert response.json()["redirect"].startswith("/developer/versions/")


def test_listing_edit(portal, developer):
    PluginFactory(id="mine", developer=developer)
    response = portal.post("/developer/plugins/mine/edit/", {
        "description": "Better words.", "tags": "Quiz, grading", "documentation_url": "https://docs.example.test",
        "support_url": ""})
    assert response.status_code == 302
    plugin = Plugin.objects.get(pk="mine")
    assert plugin.description == "Better words." and plugin.tags == ["quiz", "grading"]


def test_tokens_page_shows_a_new_token_once(portal, developer):
    response = portal.post("/developer/tokens/", {"name": "ci", "scopes": ["publish"], "expires_in_days": 30})
    assert response.status_code == 200
    token = DeveloperToken.objects.get(developer=developer)
    html = response.content.decode()
    assert "shown only once" in html and f"…{token.last_four}" in html
    assert response["Cache-Control"] == "no-store"
    again = portal.get("/developer/tokens/").content.decode()
    assert "shown only once" not in again and "aisq_" not in again
    portal.post(f"/developer/tokens/{token.pk}/revoke/")
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_strangers_cannot_see_or_touch_another_developers_things(portal):
    other = DeveloperFactory()
    version = PluginVersionFactory(plugin=PluginFactory(id="theirs", developer=other))
    from developers.models import Submission

    Submission.objects.create(version=version, developer=other)
    from developers.services import developer_token_create

    token, _ = developer_token_create(developer=other, name="theirs", scopes=["read"])

    assert portal.get(f"/developer/versions/{version.pk}/").status_code == 404
    assert portal.get("/developer/plugins/theirs/edit/").status_code == 404
    assert portal.post("/developer/plugins/theirs/edit/", {"description": "pwned"}).status_code == 404
    assert portal.post(f"/developer/tokens/{token.pk}/revoke/").status_code == 404
    token.refresh_from_db()
    assert token.revoked_at is None
    assert Plugin.objects.get(pk="theirs").description != "pwned"


def test_anonymous_visitors_are_sent_to_sign_in(client):
    response = client.get("/developer/upload/")
    assert response.status_code == 302 and "/accounts/login/" in response["Location"]
