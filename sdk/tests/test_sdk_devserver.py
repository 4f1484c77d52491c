"""The dev server: runs the plugin on the mock platform, previews its UI, calls functions and events, reloads."""

import json
import time
import urllib.error
import urllib.request

import pytest
import sdk_examples

from aisquare_plugin_sdk.devserver import DevServer

example = sdk_examples.example  # the fixture: an example plugin copied into tmp_path


@pytest.fixture
def dev(example):
    servers = []

    def start(name):
        project = example(name)
        server = DevServer(project, "127.0.0.1", 0, poll_interval=0.05)
        server.start_in_thread()
        servers.append(server)
        return server, project

    yield start
    for server in servers:
        server.shutdown()


def get(server, path):
    with urllib.request.urlopen(server.url + path, timeout=5) as response:
        return response.status, response.read().decode()


def post(server, path, body=None):
    request = urllib.request.Request(server.url + path, data=json.dumps(body or {}).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=5) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        return exc.code, json.loads(exc.read())


def wait_for_version(server, version, timeout=5.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if json.loads(get(server, "/api/version")[1])["version"] >= version:
            return
        time.sleep(0.05)
    raise AssertionError("the dev server did not reload")


def test_preview_shows_the_ui_extensions_and_the_widget_content(dev):
    server, _ = dev("advanced-assessment-suite")
    status, page = get(server, "/")
    assert status == 200
    assert "Advanced Assessments" in page and "/plugins/advanced-assessments" in page
    assert "Assessment Analytics" in page and "submissions auto-graded" in page  # rendered from dashboard_widget
    assert "assessment:submitted" in page and "set_auto_grading" in page
    state = json.loads(get(server, "/api/plugin")[1])
    assert state["hooks"] == ["on_install", "on_uninstall"]
    assert state["storage"] == {"stats": {"graded": 0, "totalScore": 0}}  # installed and activated


def test_events_functions_and_mock_calls(dev):
    server, _ = dev("advanced-assessment-suite")
    assert post(server, "/api/events/assessment:submitted")[0] == 200
    status, result = post(server, "/api/functions/dashboard_widget")
    assert status == 200 and "<strong>1</strong>" in result["value"]
    state = json.loads(get(server, "/api/plugin")[1])
    assert len(state["grades"]) == 1 and state["analytics"][0]["event"] == "auto_grading_completed"
    assert [c["method"] for c in state["calls"] if not c["method"].startswith("storage.")][-3:] == [
        "ai.analyzeText", "assessments.grade", "analytics.track"]

    status, result = post(server, "/api/functions/set_auto_grading", {"kwargs": {"assessment_id": "a1",
                                                                                 "enabled": False}})
    assert status == 200 and result["value"] == {"assessmentId": "a1", "autoGrade": False}
    status, result = post(server, "/api/functions/nope")
    assert status == 400 and "no function" in result["error"]
    status, result = post(server, "/api/mock/users.getCurrent")
    assert status == 400 and result["error"].startswith("permission_denied")  # users:read is not declared
    status, result = post(server, "/api/storage/colour", {"value": "blue"})
    assert status == 200
    assert json.loads(get(server, "/api/storage/colour")[1])["value"] == {"found": True, "value": "blue"}
    assert "<h1>Advanced Assessment Suite</h1>" in get(server, "/docs")[1]


def test_hot_reload_picks_up_changes_and_survives_a_broken_file(dev):
    server, project = dev("midnight-theme")
    assert "#fbbf24" in get(server, "/")[1]
    source = (project / "plugin.py").read_text()

    (project / "plugin.py").write_text(source.replace('"accent": "#fbbf24"', '"accent": "#fde047"'))
    wait_for_version(server, 2)
    assert "#fde047" in get(server, "/")[1]

    (project / "plugin.py").write_text(source.replace("def init(", "def init(:"))
    wait_for_version(server, 3)
    page = get(server, "/")[1]
    assert "The plugin did not load" in page and "SyntaxError" in page
    assert post(server, "/api/functions/theme")[0] == 400

    (project / "plugin.py").write_text(source)
    wait_for_version(server, 4)
    assert "#fbbf24" in get(server, "/")[1]


def test_bad_requests(dev):
    server, _ = dev("midnight-theme")
    request = urllib.request.Request(server.url + "/api/functions/theme", data=b"[1]", method="POST")
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(request, timeout=5)
    assert raised.value.code == 400
    with pytest.raises(urllib.error.HTTPError) as raised:
        urllib.request.urlopen(server.url + "/nowhere", timeout=5)
    assert raised.value.code == 404


def test_hot_reload_also_reloads_the_plugins_own_modules(dev):
    server, project = dev("lesson-summaries")
    (project / "wording.py").write_text('PREFIX = "v1"\n')
    source = (project / "plugin.py").read_text()
    (project / "plugin.py").write_text(source + "\n\ndef prefix():\n    import wording\n    return wording.PREFIX\n")
    wait_for_version(server, 2)
    assert post(server, "/api/functions/prefix")[1]["value"] == "v1"
    (project / "wording.py").write_text('PREFIX = "v2"\n')
    wait_for_version(server, 3)
    assert post(server, "/api/functions/prefix")[1]["value"] == "v2"
