"""`aisquare-plugin publish`: upload a built package to the platform (spec §Developer Endpoints,
`POST /api/developer/plugins`, multipart `plugin_package` + `metadata`), show a progress bar, then follow the
version's status until the security scan has a verdict and print it with the review status link.

Configuration: the token from `AISQUARE_TOKEN`, else `token` in `$XDG_CONFIG_HOME/aisquare/config.json`
(default `~/.config/aisquare/config.json`); the server from `AISQUARE_URL`, else `url` in the same file, else
http://localhost:8000. Standard library only (http.client).
"""

from __future__ import annotations

import http.client
import json
import os
import ssl
import sys
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TextIO
from urllib.parse import urljoin, urlsplit

DEFAULT_URL = "http://localhost:8000"
UPLOAD_PATH = "/api/developer/plugins"
PENDING = ("uploaded", "validating", "scanning")
VERDICT_OK = ("passed", "approved")
CHUNK = 64 * 1024


class PublishError(Exception):
    """`exit_code`: 1 the platform refused the package, 2 bad configuration or token, 3 server or network."""

    def __init__(self, message: str, exit_code: int):
        super().__init__(message)
        self.exit_code = exit_code


@dataclass
class Settings:
    url: str
    token: str | None
    source: str  # where the token came from, for messages


def config_path() -> Path:
    base = os.environ.get("XDG_CONFIG_HOME") or str(Path.home() / ".config")
    return Path(base) / "aisquare" / "config.json"


def load_settings(url: str | None = None) -> Settings:
    path = config_path()
    stored: dict[str, Any] = {}
    if path.is_file():
        try:
            stored = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise PublishError(f"{path}: not readable JSON ({exc})", 2) from None
        if not isinstance(stored, dict):
            raise PublishError(f"{path}: must be a JSON object with token and url", 2)
    token, source = os.environ.get("AISQUARE_TOKEN"), "AISQUARE_TOKEN"
    if not token:
        token, source = stored.get("token"), str(path)
    server = url or os.environ.get("AISQUARE_URL") or stored.get("url") or DEFAULT_URL
    parts = urlsplit(server)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise PublishError(f"{server!r} is not an http(s) URL (set AISQUARE_URL)", 2)
    return Settings(url=server.rstrip("/"), token=token or None, source=source)


class ProgressBar:
    """A text progress bar on stderr: redrawn in place on a terminal, one final line otherwise."""

    def __init__(self, total: int, stream: TextIO | None = None, width: int = 30):
        self.total = max(total, 1)
        self.stream = stream or sys.stderr
        self.width = width
        self.tty = hasattr(self.stream, "isatty") and self.stream.isatty()
        self.done = 0

    def _line(self) -> str:
        fraction = min(self.done / self.total, 1.0)
        filled = int(self.width * fraction)
        return (f"Uploading [{'#' * filled}{'.' * (self.width - filled)}] {fraction * 100:5.1f}% "
                f"{self.done / 1024:.1f}/{self.total / 1024:.1f} KiB")

    def update(self, sent: int) -> None:
        self.done += sent
        if self.tty:
            self.stream.write("\r" + self._line())
            self.stream.flush()

    def finish(self) -> None:
        self.stream.write(("\r" if self.tty else "") + self._line() + "\n")
        self.stream.flush()


def _connection(url: str, timeout: float) -> http.client.HTTPConnection:
    parts = urlsplit(url)
    if parts.scheme == "https":
        return http.client.HTTPSConnection(parts.hostname, parts.port, timeout=timeout,
                                           context=ssl.create_default_context())
    return http.client.HTTPConnection(parts.hostname, parts.port, timeout=timeout)


def _error_message(status: int, body: bytes) -> str:
    try:
        data = json.loads(body)
    except ValueError:
        data = None
    if isinstance(data, dict):
        error = data.get("error")
        if isinstance(error, dict):
            message = str(error.get("message") or error.get("code") or "")
            fields = error.get("fields")
            if isinstance(fields, dict) and fields:
                message += " (" + "; ".join(f"{k}: {', '.join(map(str, v)) if isinstance(v, list) else v}"
                                            for k, v in fields.items()) + ")"
            return message
        if "detail" in data:
            return str(data["detail"])
    text = body.decode("utf-8", "replace").strip().splitlines()
    return text[0][:200] if text else f"HTTP {status}"


def _exit_code_for(status: int) -> int:
    if status in (401, 403):
        return 2
    if 400 <= status < 500:
        return 1
    return 3


class Client:
    def __init__(self, settings: Settings, *, timeout: float = 60):
        self.settings = settings
        self.timeout = timeout

    def _headers(self) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.settings.token}", "Accept": "application/json",
                "User-Agent": "aisquare-plugin-cli"}

    def _send(self, method: str, path: str, *, body_parts: list[bytes] | None = None, content_type: str = "",
              progress: Callable[[int], None] | None = None) -> tuple[int, bytes]:
        url = urljoin(self.settings.url + "/", path.lstrip("/"))
        parts = urlsplit(url)
        target = parts.path + (f"?{parts.query}" if parts.query else "")
        try:
            conn = _connection(url, self.timeout)
            headers = self._headers()
            conn.putrequest(method, target)
            length = sum(len(p) for p in body_parts or [])
            for key, value in headers.items():
                conn.putheader(key, value)
            if body_parts is not None:
                conn.putheader("Content-Type", content_type)
                conn.putheader("Content-Length", str(length))
            conn.endheaders()
            for part in body_parts or []:
                for start in range(0, len(part), CHUNK):
                    chunk = part[start:start + CHUNK]
                    conn.send(chunk)
                    if progress:
                        progress(len(chunk))
            response = conn.getresponse()
            return response.status, response.read(4 * 1024 * 1024)
        except (OSError, http.client.HTTPException) as exc:  # refused, reset, timeout, DNS
            reason = getattr(exc, "strerror", None) or str(exc) or type(exc).__name__
            raise PublishError(f"cannot reach {self.settings.url}: {reason}", 3) from None
        finally:
            try:
                conn.close()
            except UnboundLocalError:
                pass

    def _json(self, status: int, body: bytes) -> dict[str, Any]:
        if status >= 400:
            raise PublishError(f"the server answered {status}: {_error_message(status, body)}", _exit_code_for(status))
        try:
            data = json.loads(body)
        except ValueError:
            raise PublishError(f"the server answered {status} with something that is not JSON", 3) from None
        if not isinstance(data, dict):
            raise PublishError("the server's answer is not a JSON object", 3)
        return data

    def upload(self, package: Path, metadata: dict[str, Any], *, stream: TextIO | None = None) -> dict[str, Any]:
        boundary = f"aisquare-{uuid.uuid4().hex}"
        data = package.read_bytes()
        head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"metadata\"\r\n"
                f"Content-Type: application/json\r\n\r\n{json.dumps(metadata)}\r\n"
                f"--{boundary}\r\nContent-Disposition: form-data; name=\"plugin_package\"; "
                f"filename=\"{package.name}\"\r\nContent-Type: application/zip\r\n\r\n").encode()
        tail = f"\r\n--{boundary}--\r\n".encode()
        bar = ProgressBar(len(head) + len(data) + len(tail), stream)
        status, body = self._send("POST", UPLOAD_PATH, body_parts=[head, data, tail],
                                  content_type=f"multipart/form-data; boundary={boundary}", progress=bar.update)
        bar.finish()
        return self._json(status, body)

    def get(self, path: str) -> dict[str, Any]:
        return self._json(*self._send("GET", path))


def review_link(server: str, version_id: str) -> str:
    return f"{server}/developer/versions/{version_id}/"


def wait_for_verdict(client: Client, status_url: str, first: dict[str, Any], *, wait: float,
                     interval: float = 1.0) -> dict[str, Any]:
    """Poll the version's status until the scan leaves uploaded/validating/scanning, or `wait` seconds pass."""
    summary = first
    deadline = time.monotonic() + wait
    while summary.get("status") in PENDING and time.monotonic() < deadline:
        time.sleep(interval)
        summary = client.get(status_url)
    return summary


def format_verdict(summary: dict[str, Any]) -> list[str]:
    lines = [f"Status: {summary.get('status_label') or summary.get('status')}"]
    if summary.get("scan_error"):
        lines.append(f"Scan error: {summary['scan_error']}")
    findings = summary.get("findings") or []
    lines.append(f"Findings: {len(findings)}")
    for finding in findings[:50]:
        where = finding.get("file", "")
        if finding.get("line"):
            where += f":{finding['line']}"
        severity, rule, message = finding.get("severity", "?"), finding.get("rule", ""), finding.get("message", "")
        lines.append(f"  [{severity}] {rule} {where} {message}".rstrip())
    if summary.get("quality_score") is not None:
        lines.append(f"Quality score: {summary['quality_score']}/100")
    if summary.get("reviewer_note"):
        lines.append(f"Reviewer note: {summary['reviewer_note']}")
    return lines
