"""The upload page in a real browser: choose a package, watch the progress, land on the scan report."""

import pytest
from playwright.sync_api import expect

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


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_the_review_console_page_in_a_browser(page, live_server, client, reviewer, artifacts_dir):
    from developers import services

    developer = DeveloperFactory(company_name="Console Studio")
    services.submission_upload(developer=developer, user=developer.user, data=build())
    client.force_login(reviewer)
    page.context.add_cookies([{"name": "sessionid", "value": client.cookies["sessionid"].value,
                               "url": live_server.url}])

    page.goto(f"{live_server.url}/admin/")
    page.get_by_role("link", name="1 version awaiting review").click()
    page.get_by_role("link", name="quiz-helper").click()
    expect(page.get_by_role("heading", name="Scopes asked")).to_be_visible()
    expect(page.get_by_text("assessments:grade").first).to_be_visible()
    page.get_by_label("Reason").fill("Scopes match the code.")
    page.get_by_role("button", name="Approve and publish").click()
    expect(page.get_by_text("Approve: done.")).to_be_visible()
    expect(page.get_by_text("Approved and published").first).to_be_visible()
    page.screenshot(path=str(artifacts_dir / "publishing-review-console.png"), full_page=True)
