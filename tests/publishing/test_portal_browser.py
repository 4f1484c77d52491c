"""The upload page in a real browser: choose a package, watch the progress, land on the scan report."""

import pytest

from tests.factories import DeveloperFactory
from tests.publishing.packages import build


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_upload_with_progress_lands_on_the_scan_report(page, live_server, client, tmp_path, artifacts_dir):
    developer = DeveloperFactory(company_name="Browser Studio")
    client.force_login(developer.user)
    page.context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                               "url": live_server.url}])
    package = tmp_path / "quiz-helper.zip"
    package.write_bytes(build())

    page.goto(f"{live_server.url}/developer/upload/")
    page.get_by_label("Plugin package (.zip)").set_input_files(str(package))
    page.get_by_label("What changed in this version").fill("First release.")
    page.get_by_role("button", name="Upload").click()
    page.wait_for_url("**/developer/versions/**", timeout=60_000)

    assert page.get_by_role("heading", name="Quiz Helper 1.0.0").is_visible()
    assert page.get_by_text("Passed scan, awaiting review").is_visible()
    page.screenshot(path=str(artifacts_dir / "publishing-scan-report.png"), full_page=True)
