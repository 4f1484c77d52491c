"""The OpenAPI schema is served, valid, and documented in Swagger UI; errors share one shape."""

import pytest
from django.core.management import call_command


@pytest.mark.django_db
def test_schema_endpoint_serves_openapi_3(client):
    response = client.get("/api/schema/", HTTP_ACCEPT="application/vnd.oai.openapi+json")
    assert response.status_code == 200
    schema = response.json()
    assert schema["openapi"].startswith("3.")
    assert schema["info"]["title"] == "AI Square Plugins API"


def test_schema_validates_against_the_openapi_specification(tmp_path):
    out = tmp_path / "schema.yaml"
    call_command("spectacular", "--validate", "--fail-on-warn", "--file", str(out))
    assert out.stat().st_size > 0


@pytest.mark.django_db
def test_swagger_ui_is_served(client):
    response = client.get("/api/docs/")
    assert response.status_code == 200
    assert b"swagger" in response.content.lower()


@pytest.mark.django_db
def test_health_check_reads_the_database(client):
    assert client.get("/healthz").json() == {"status": "ok"}
