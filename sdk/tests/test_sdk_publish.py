"""`aisquare-plugin publish` against a stand-in platform server (the real one is in tests/sdk/): token and server
configuration, the multipart upload, the progress bar, following the scan, and each error's exit code."""

import email.parser
import email.policy
import json
import socket
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import sdk_examples

from aisquare_plugin_sdk.cli import main

example = sdk_examples.example  # the fixture: an example plugin copied into tmp_path


class Platform:
    """Answers like developers/views.py: 201 {plugin_id, version, status_url}, then the version's summaries."""

    def __init__(self):
        self.uploads = []
        self.upload_reply = None
        self.statuses = ["scanning", "passed"]
        self.polls = 0
        handler = type("H", (Handler,), {"platform": self})
        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), handler)
        threading.Thread(target=self.httpd.serve_forever, daemon=True).start()
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"

    def summary(self, status):
        return {"id": "7d1c0e5e-0000-4000-8000-000000000001", "version": "1.0.0", "status": status,
                "status_label": status.title(), "quality_score": 85, "scan_error": "",
                "findings": [{"rule": "dangerous-call", "severity": "low", "file": "plugin.py", "line": 3,
                              "message": "monitor-only finding"}] if status != "scanning" else []}


class Handler(BaseHTTPRequestHandler):
    platform: Platform

    def log_message(self, *args):
        pass

    def _reply(self, status, body):
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self):
        body = self.rfile.read(int(self.headers["Content-Length"]))
        message = email.parser.BytesParser(policy=email.policy.HTTP).parsebytes(
            f"Content-Type: {self.headers['Content-Type']}\r\n\r\n".encode() + body)
        parts = {part.get_param("name", header="content-disposition"): part for part in message.iter_parts()}
        self.platform.uploads.append({
            "path": self.path, "authorization": self.headers["Authorization"],
            "metadata": json.loads(parts["metadata"].get_content()),
            "filename": parts["plugin_package"].get_filename(),
            "package": parts["plugin_package"].get_payload(decode=True),
        })
        if self.platform.upload_reply:
            self._reply(*self.platform.upload_reply)
            return
        first = self.platform.summary(self.platform.statuses[0])
        self._reply(201, {"plugin_id": "advanced-assessment-suite", "version": first,
                          "status_url": f"/api/developer/versions/{first['id']}"})

    def do_GET(self):
        self.platform.polls += 1
        index = min(self.platform.polls, len(self.platform.statuses) - 1)
        self._reply(200, self.platform.summary(self.platform.statuses[index]))


@pytest.fixture
def platform(monkeypatch, tmp_path):
    server = Platform()
    monkeypatch.setenv("AISQUARE_URL", server.url)
    monkeypatch.setenv("AISQUARE_TOKEN", "aisq_test_token")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    yield server
    server.httpd.shutdown()
    server.httpd.server_close()


def run(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_publish_uploads_shows_progress_and_prints_the_verdict(platform, example, capsys, monkeypatch):
    import aisquare_plugin_sdk.publish as publish

    monkeypatch.setattr(publish.time, "sleep", lambda s: None)
    project = example("advanced-assessment-suite")
    code, out, err = run(capsys, "publish", "-p", str(project))

    assert code == 0, err
    [upload] = platform.uploads
    built = (project / "dist" / "advanced-assessment-suite-1.0.0.zip").read_bytes()
    assert upload["path"] == "/api/developer/plugins"
    assert upload["authorization"] == "Bearer aisq_test_token"
    assert upload["package"] == built and upload["filename"] == "advanced-assessment-suite-1.0.0.zip"
    assert upload["metadata"] == {"id": "advanced-assessment-suite", "version": "1.0.0",
                                  "changelog": "1.0.0: first release."}
    assert "Uploading [##############################] 100.0%" in err
    assert "Status: Passed" in out and "Quality score: 85/100" in out
    assert "[low] dangerous-call plugin.py:3 monitor-only finding" in out
    assert f"Review status: {platform.url}/developer/versions/7d1c0e5e-0000-4000-8000-000000000001/" in out
    assert platform.polls >= 1


def test_a_rejected_version_exits_1(platform, example, capsys, monkeypatch):
    import aisquare_plugin_sdk.publish as publish

    monkeypatch.setattr(publish.time, "sleep", lambda s: None)
    platform.statuses = ["scanning", "quarantined"]
    code, out, err = run(capsys, "publish", "-p", str(example("midnight-theme")))
    assert code == 1 and "Status: Quarantined" in out
    assert err.splitlines()[-1] == "error: the platform did not accept this version: Quarantined"


@pytest.mark.parametrize("status,body,exit_code,message", [
    (400, {"error": {"code": "version_not_greater", "message": "1.0.0 is not above 1.2.0.",
                     "fields": {"version": ["too low"]}}}, 1, "1.0.0 is not above 1.2.0. (version: too low)"),
    (401, {"detail": "Invalid or expired token."}, 2, "Invalid or expired token."),
    (403, {"error": {"code": "not_a_developer", "message": "Register as a developer first."}}, 2, "Register"),
    (500, {"error": {"code": "server_error", "message": "boom"}}, 3, "boom"),
])
def test_server_refusals_give_one_line_and_their_exit_code(platform, example, capsys, status, body, exit_code,
                                                           message):
    platform.upload_reply = (status, body)
    code, _, err = run(capsys, "publish", "-p", str(example("midnight-theme")))
    assert code == exit_code
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert len(errors) == 1 and f"the server answered {status}" in errors[0] and message in errors[0]


def test_missing_token_is_a_usage_error(platform, example, capsys, monkeypatch):
    monkeypatch.delenv("AISQUARE_TOKEN")
    code, _, err = run(capsys, "publish", "-p", str(example("midnight-theme")))
    assert code == 2 and err.count("\n") == 1 and err.startswith("error: no developer token: set AISQUARE_TOKEN")
    assert platform.uploads == []


def test_token_and_url_from_the_config_file(platform, example, capsys, monkeypatch, tmp_path):
    monkeypatch.delenv("AISQUARE_TOKEN")
    monkeypatch.delenv("AISQUARE_URL")
    project = example("midnight-theme")
    config = tmp_path / "config" / "aisquare" / "config.json"
    config.parent.mkdir(parents=True)
    config.write_text(json.dumps({"token": "aisq_from_file", "url": platform.url}))
    code, _, err = run(capsys, "publish", "-p", str(project), "--wait", "0")
    assert code == 0, err
    assert platform.uploads[0]["authorization"] == "Bearer aisq_from_file"

    config.write_text("{not json")
    code, _, err = run(capsys, "publish", "-p", str(project))
    assert code == 2 and "not readable JSON" in err and err.count("\n") == 1


def test_server_down_is_a_network_error(example, capsys, monkeypatch):
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    monkeypatch.setenv("AISQUARE_URL", f"http://127.0.0.1:{port}")
    monkeypatch.setenv("AISQUARE_TOKEN", "aisq_x")
    code, _, err = run(capsys, "publish", "-p", str(example("midnight-theme")))
    errors = [line for line in err.splitlines() if line.startswith("error: ")]
    assert code == 3 and len(errors) == 1 and f"cannot reach http://127.0.0.1:{port}" in errors[0]


def test_dry_run_uploads_nothing(platform, example, capsys):
    code, out, _ = run(capsys, "publish", "--dry-run", "-p", str(example("midnight-theme")))
    assert code == 0 and platform.uploads == []
    assert "Dry run: would upload" in out and f"to {platform.url}/api/developer/plugins" in out


def test_an_invalid_plugin_is_not_uploaded(platform, example, capsys):
    project = example("midnight-theme")
    (project / "plugin.json").write_text("{}")
    code, _, err = run(capsys, "publish", "-p", str(project))
    assert code == 1 and platform.uploads == [] and "error: plugin.json: id: this field is required" in err


def test_a_bad_server_url_is_a_usage_error(example, capsys, monkeypatch):
    monkeypatch.setenv("AISQUARE_URL", "ftp://example.com")
    code, _, err = run(capsys, "publish", "-p", str(example("midnight-theme")))
    assert code == 2 and "is not an http(s) URL" in err
