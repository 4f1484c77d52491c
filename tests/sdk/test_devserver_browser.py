"""The dev server's preview page in Chromium: the plugin's menu item and widget are shown, an event sent from the
page is handled by the plugin, and an edit to the plugin reloads the page by itself."""

import re

import pytest

from aisquare_plugin_sdk.devserver import DevServer


@pytest.fixture
def dev_server(example_copy):
    project = example_copy("advanced-assessment-suite")
    server = DevServer(project, "127.0.0.1", 0, poll_interval=0.1)
    server.start_in_thread()
    yield server, project
    server.shutdown()


@pytest.mark.browser
def test_preview_event_and_hot_reload_in_a_browser(dev_server, page, artifacts_dir):
    server, project = dev_server
    page.goto(server.url + "/")
    assert page.get_by_role("heading", level=1).inner_text().startswith("Advanced Assessment Suite")
    assert page.get_by_role("navigation", name="Plugin menu items").inner_text().startswith("Advanced Assessments")
    widget = page.frame_locator("iframe[title='Assessment Analytics preview']")
    assert "0</strong> submissions auto-graded" in widget.locator("body").inner_html()

    event_form = page.locator("form", has=page.get_by_role("heading", name="assessment:submitted"))
    event_form.get_by_role("button", name="Send event").click()
    page.wait_for_function("document.querySelectorAll('output')[2].textContent.includes('\"ok\": true')")
    page.reload()
    assert "1</strong> submissions auto-graded" in page.frame_locator(
        "iframe[title='Assessment Analytics preview']").locator("body").inner_html()
    page.screenshot(path=str(artifacts_dir / "sdk-dev-server-preview.png"), full_page=True)

    source = (project / "plugin.py").read_text()
    (project / "plugin.py").write_text(source.replace('"label": "Advanced Assessments"', '"label": "Grading Suite"'))
    page.wait_for_function("document.querySelector('nav').innerText.includes('Grading Suite')", timeout=10_000)
    assert re.search(r"Grading Suite", page.get_by_role("navigation", name="Plugin menu items").inner_text())
