"""Upload through the API: ordered validation, each refusal with its own code and 4xx, nothing left behind."""

import json
from pathlib import Path

import pytest
from django.core.files.uploadedfile import SimpleUploadedFile

from marketplace.models import Plugin, PluginVersion
from tests.factories import DeveloperFactory, PluginFactory, PluginVersionFactory
from tests.publishing.packages import build, hostile_corpus

pytestmark = pytest.mark.django_db
_capture = None


@pytest.fixture(autouse=True)
def _on_commit(django_capture_on_commit_callbacks):
    global _capture
    _capture = django_capture_on_commit_callbacks


def upload(client, data, metadata=None, url="/api/developer/plugins", method="post"):
    """Upload, then run what the request queued on commit (the scan task runs inline in these tests)."""
    with _capture(execute=True):
        return _upload(client, data, metadata, url, method)


def _upload(client, data, metadata, url, method):
    payload = {"plugin_package": SimpleUploadedFile("p.zip", data, content_type="application/zip")}
    if metadata is not None:
        payload["metadata"] = json.dumps(metadata)
    return getattr(client, method)(url, payload, format="multipart")


def stored_files(settings):
    root = Path(settings.MEDIA_ROOT)
    return [p for p in root.rglob("*") if p.is_file()] if root.exists() else []


def test_a_good_package_is_stored_scanned_and_awaits_review(api, developer, settings):
    response = upload(api, build(), metadata={"changelog": "First."})

    assert response.status_code == 201, response.json()
    body = response.json()
    version = PluginVersion.objects.get(pk=body["version"]["id"])
    # Tasks run inline in tests: the scan ran on commit.
    assert version.status == "passed", version.submission.findings
    assert version.plugin.developer == developer
    assert version.changelog == "First."
    assert version.min_platform_key == 200000000 and version.max_platform_key == 300000000
    assert version.quality_score == 100
    assert not version.plugin.is_published


@pytest.mark.parametrize("name", list(hostile_corpus()))
def test_hostile_and_malformed_packages_are_refused_with_their_own_code(api, settings, name):
    data, code = hostile_corpus()[name]

    response = upload(api, data)

    assert 400 <= response.status_code < 500
    assert response.json()["error"]["code"] == code, response.json()
    assert response.json()["error"]["message"]
    assert not PluginVersion.objects.exists() and not Plugin.objects.exists()
    assert stored_files(settings) == []


def test_size_limit_answers_413_before_reading(api, settings):
    settings.PACKAGE_MAX_BYTES = 1000
    response = upload(api, build())
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"


def test_the_same_package_twice_is_a_conflict(api):
    data = build()
    assert upload(api, data).status_code == 201
    response = upload(api, data)
    assert response.status_code == 409
    assert response.json()["error"]["code"] == "duplicate_package"


def test_a_version_must_be_greater_than_every_earlier_one(api):
    assert upload(api, build(version="1.2.0")).status_code == 201
    for older in ("1.2.0", "1.1.9", "1.2.0-beta.1"):
        response = upload(api, build(version=older, changelog=f"again {older}"))
        assert response.status_code == 409, older
        assert response.json()["error"]["code"] == "version_not_greater"
    assert upload(api, build(version="1.10.0")).status_code == 201


def test_a_plugin_id_belongs_to_its_first_developer(api, settings):
    PluginFactory(id="quiz-helper", developer=DeveloperFactory())

    response = upload(api, build(version="9.0.0"))

    assert response.status_code == 403
    assert response.json()["error"]["code"] == "plugin_id_taken"
    assert PluginVersion.objects.count() == 0
    assert stored_files(settings) == []


def test_paid_pricing_needs_a_payout_account(api, developer):
    developer.payment_account_id = ""
    developer.save()
    response = upload(api, build(pricing={"model": "one_time", "price": "9.99", "currency": "USD"}))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "pricing_incoherent"


def test_incoherent_pricing_in_the_manifest_is_refused(api):
    response = upload(api, build(pricing={"model": "subscription", "price": "-3", "currency": "usd"}))
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "manifest_invalid"
    assert "pricing" in response.json()["error"]["message"]


def test_metadata_must_agree_with_the_manifest(api):
    response = upload(api, build(), metadata={"id": "something-else"})
    assert response.status_code == 400
    assert response.json()["error"]["code"] == "metadata_mismatch"


def test_missing_package_field(api):
    response = api.post("/api/developer/plugins", {}, format="multipart")
    assert response.status_code == 400
    assert "plugin_package" in response.json()["error"]["message"]


def test_a_user_without_developer_account_cannot_upload(db):
    from rest_framework.test import APIClient

    from tests.factories import UserFactory

    client = APIClient()
    client.force_authenticate(UserFactory())
    response = upload(client, build())
    assert response.status_code == 403
    assert response.json()["error"]["code"] == "not_a_developer"


def test_anonymous_upload_is_refused(db):
    from rest_framework.test import APIClient

    response = upload(APIClient(), build())
    assert response.status_code in (401, 403)
    assert not Plugin.objects.exists()


def test_new_version_by_put_and_listing_edit(api):
    assert upload(api, build()).status_code == 201
    response = upload(api, build(version="1.1.0"), url="/api/developer/plugins/quiz-helper", method="put")
    assert response.status_code == 201
    assert response.json()["version"]["version"] == "1.1.0"

    wrong = upload(api, build(plugin_id="other-plugin", version="1.0.0"),
                   url="/api/developer/plugins/quiz-helper", method="put")
    assert wrong.status_code == 400
    assert wrong.json()["error"]["code"] == "plugin_id_mismatch"

    edit = api.put("/api/developer/plugins/quiz-helper", {"description": "New words.", "tags": ["quiz"]},
                   format="json")
    assert edit.status_code == 200
    assert Plugin.objects.get(pk="quiz-helper").description == "New words."
    refused = api.put("/api/developer/plugins/quiz-helper", {"price": "0.01"}, format="json")
    assert refused.status_code == 400


def test_list_shows_own_plugins_with_statuses_findings_and_notes(api, developer):
    upload(api, build())
    other = PluginVersionFactory(plugin=PluginFactory(id="someone-elses"))

    body = api.get("/api/developer/plugins").json()

    assert [p["id"] for p in body["results"]] == ["quiz-helper"]
    version = body["results"][0]["versions"][0]
    assert version["status"] == "passed"
    assert version["quality"]["score"] == 100
    assert isinstance(version["findings"], list)
    assert other.plugin_id not in json.dumps(body)


def test_another_developers_plugin_and_versions_are_not_found(api):
    other = PluginVersionFactory(plugin=PluginFactory(id="someone-elses"))

    assert api.get("/api/developer/plugins/someone-elses").status_code == 404
    assert api.get("/api/developer/plugins/does-not-exist").status_code == 404
    assert api.get(f"/api/developer/versions/{other.pk}").status_code == 404
    edit = api.put("/api/developer/plugins/someone-elses", {"description": "pwned"}, format="json")
    assert edit.status_code == 404
    assert Plugin.objects.get(pk="someone-elses").description != "pwned"
    upload_other = upload(api, build(plugin_id="someone-elses", version="5.0.0"),
                          url="/api/developer/plugins/someone-elses", method="put")
    assert upload_other.status_code == 403
    assert PluginVersion.objects.filter(plugin_id="someone-elses").count() == 1
