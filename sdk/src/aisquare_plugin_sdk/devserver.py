"""`aisquare-plugin dev`: a local development server (standard library http.server).

It runs the plugin against the SDK's mock platform (the same `MockPlatform` the tests use: same method names,
scopes and replies as the real host), as an installed and active plugin with every declared scope granted, and:
- `/` previews what the plugin registers (menu items, dashboard widgets rendered from their functions, toolbar
  actions, settings pages, routes, theme), lists its functions and events with forms to call them, and shows
  every Plugin API call it made; the page reloads itself when the plugin changes (hot reload);
- `/api/plugin` the same as JSON; `POST /api/functions/<name>`, `POST /api/events/<event>`,
  `POST /api/hooks/<hook>`; `POST /api/mock/<method>` (a Plugin API call straight to the mock platform);
  `GET|POST /api/storage/<key>`; `/docs` the plugin's generated reference.
Plugin code runs in this process, unsandboxed: it is the developer's own code on the developer's machine.
"""

from __future__ import annotations

import html
import json
import threading
import time
import traceback
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import unquote, urlsplit

from aisquare_plugin_sdk.build import package_files
from aisquare_plugin_sdk.codeinfo import analyze_project
from aisquare_plugin_sdk.docs import render_html
from aisquare_plugin_sdk.errors import PluginAPIError
from aisquare_plugin_sdk.plugin import HOOKS
from aisquare_plugin_sdk.project import ProjectError, find_root
from aisquare_plugin_sdk.testing import PluginTestFramework, TestSetup

MAX_BODY = 1024 * 1024


def _snapshot(root: Path) -> dict[str, float]:
    try:
        files = package_files(root)
    except ProjectError:
        files = []
    stamps = {}
    for rel in files:
        try:
            stamps[rel] = (root / rel).stat().st_mtime_ns
        except OSError:
            continue
    return stamps


class DevState:
    """The running plugin and its mock platform; reloaded from disk when a file changes."""

    def __init__(self, root: Path):
        self.root = root
        self.lock = threading.RLock()
        self.version = 0
        self.setup: TestSetup | None = None
        self.error = ""
        self.stamps: dict[str, float] = {}
        self.reload()

    def reload(self) -> None:
        with self.lock:
            self.stamps = _snapshot(self.root)
            try:
                framework = PluginTestFramework()
                from aisquare_plugin_sdk.project import read_manifest

                scopes = read_manifest(self.root).scopes
                setup = framework.setup_test(self.root, permissions=scopes)
                for hook in ("on_install", "on_activate"):
                    setup.hook(hook)
                self.setup, self.error = setup, ""
            except ProjectError as exc:
                self.setup, self.error = None, "\n".join(exc.errors)
            except Exception:
                self.setup, self.error = None, traceback.format_exc(limit=-6)
            self.version += 1

    def changed(self) -> bool:
        return _snapshot(self.root) != self.stamps

    def state(self) -> dict[str, Any]:
        with self.lock:
            if self.setup is None:
                return {"version": self.version, "error": self.error}
            setup = self.setup
            platform = setup.platform
            loaded = setup.loaded
            functions = sorted(type(setup.plugin).functions()) if loaded and loaded.instance else (
                sorted(loaded.functions()) if loaded else [])
            return {
                "version": self.version,
                "error": self.error,
                "manifest": setup.manifest,
                "hooks": loaded.hooks() if loaded else [],
                "functions": functions,
                "subscriptions": setup.context.events.subscriptions,
                "ui": platform.ui,
                "storage": platform.kv,
                "collections": {name: list(docs.values()) for name, docs in platform.collections.items()},
                "grades": platform.grades,
                "analytics": platform.analytics_events,
                "content": list(platform.content.values()),
                "notifications": platform.notifications,
                "emitted": platform.emitted,
                "logs": setup.context.logs[-100:],
                "calls": [{"method": c.method, "params": c.params, "outcome": c.outcome, "scope": c.scope,
                           "error": c.error} for c in platform.calls[-100:]],
            }

    def run(self, kind: str, name: str, payload: dict[str, Any]) -> dict[str, Any]:
        with self.lock:
            if self.setup is None:
                return {"ok": False, "error": "the plugin did not load: " + self.error.splitlines()[-1:][0]}
            setup = self.setup
            try:
                if kind == "function":
                    value = setup.call(name, *payload.get("args", []), **payload.get("kwargs", {}))
                elif kind == "event":
                    data = payload.get("data")
                    value = setup.context.emit_platform_event(name, data)
                elif kind == "hook":
                    if name not in HOOKS:
                        return {"ok": False, "error": f"{name!r} is not a lifecycle hook"}
                    value = setup.hook(name, *payload.get("args", []))
                else:  # a Plugin API call straight to the mock platform
                    value = setup.platform.request(name, payload)
                json.dumps(value)
                return {"ok": True, "value": value}
            except PluginAPIError as exc:
                return {"ok": False, "error": f"{exc.code}: {exc.message}"}
            except LookupError as exc:
                return {"ok": False, "error": str(exc)}
            except Exception as exc:
                return {"ok": False, "error": f"{type(exc).__name__}: {exc}",
                        "traceback": traceback.format_exc(limit=-6)}

    def widget_html(self, function: str, widget_id: str) -> str:
        # The platform calls a widget's function with {"widgetId": ...} (runtime.plugin_api.ui).
        result = self.run("function", function, {"args": [{"widgetId": widget_id}]})
        if not result["ok"]:
            return f"<p>error: {html.escape(result['error'])}</p>"
        value = result["value"]
        return value if isinstance(value, str) else f"<pre>{html.escape(json.dumps(value, indent=2))}</pre>"


PAGE_CSS = """
body{font-family:system-ui,sans-serif;margin:0;color:#0f172a;background:#f8fafc}
header{background:#1e293b;color:#fff;padding:.8rem 1.5rem}header a{color:#cbd5e1}
main{display:grid;grid-template-columns:repeat(auto-fit,minmax(22rem,1fr));gap:1rem;padding:1rem 1.5rem}
section{background:#fff;border:1px solid #e2e8f0;border-radius:.5rem;padding:.8rem 1rem;overflow:auto}
table{border-collapse:collapse;font-size:.85rem}td,th{padding:.15rem .4rem;text-align:left}
h2{font-size:1.1rem;margin:.2rem 0 .6rem}code,pre{background:#f1f5f9;padding:.1rem .3rem;font-size:.85rem}
pre{overflow:auto;max-height:20rem}.error{background:#fef2f2;border-color:#fca5a5;grid-column:1/-1}
iframe{width:100%;border:1px solid #e2e8f0;min-height:6rem}label{display:block;font-size:.85rem;margin:.3rem 0}
textarea{width:100%;font-family:monospace}button{margin:.3rem 0;padding:.3rem .8rem}
nav ul{list-style:none;padding:0;display:flex;gap:1rem}
nav li{background:#e0e7ff;padding:.3rem .7rem;border-radius:.3rem}
.denied{color:#b91c1c}
"""

PAGE_SCRIPT = """
let version = %(version)d;
async function poll() {
  try {
    const r = await fetch('/api/version'); const v = (await r.json()).version;
    if (v !== version) { location.reload(); return; }
  } catch (e) {}
  setTimeout(poll, 1000);
}
poll();
async function send(form, url) {
  const out = form.querySelector('output'); let body = {};
  const field = form.querySelector('textarea');
  try { body = field && field.value.trim() ? JSON.parse(field.value) : {}; }
  catch (e) { out.textContent = 'not JSON: ' + e.message; return false; }
  const r = await fetch(url, {method: 'POST', headers: {'Content-Type': 'application/json'},
                               body: JSON.stringify(body)});
  out.textContent = JSON.stringify(await r.json(), null, 2);
  return false;
}
"""


def _e(value: Any) -> str:
    return html.escape(str(value), quote=True)


def render_page(state: DevState) -> str:
    data = state.state()
    parts = [f"<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\"><title>Dev server</title>"
             f"<style>{PAGE_CSS}</style></head><body>"]
    manifest = data.get("manifest") or {}
    parts.append(f"<header><h1>{_e(manifest.get('name', 'Plugin'))} <small>{_e(manifest.get('version', ''))}</small>"
                 f"</h1><p>AI Square plugin dev server · mock platform · hot reload on · "
                 f"<a href=\"/docs\">reference</a> · <a href=\"/api/plugin\">JSON</a></p></header><main>")
    if data.get("error"):
        parts.append(f"<section class=\"error\" role=\"alert\"><h2>The plugin did not load</h2>"
                     f"<pre>{_e(data['error'])}</pre><p>Fix the code: the page reloads by itself.</p></section>")
        parts.append(f"</main><script>{PAGE_SCRIPT % {'version': data['version']}}</script></body></html>")
        return "".join(parts)
    ui = data["ui"]
    menu = "".join(f"<li>{_e(i.get('label', i.get('id')))} <code>{_e(i.get('route', ''))}</code></li>"
                   for i in ui["menu_items"])
    parts.append(f"<section><h2>Menu items</h2><nav aria-label=\"Plugin menu items\"><ul>{menu or '<li>none</li>'}"
                 f"</ul></nav>")
    for kind, title in (("toolbar_actions", "Toolbar actions"), ("routes", "Routes"), ("components", "Components")):
        if ui[kind]:
            parts.append(f"<h2>{title}</h2><pre>{_e(json.dumps(ui[kind], indent=2))}</pre>")
    if ui["themes"]:
        theme = ui["themes"][-1]
        swatches = "".join(f"<span style=\"display:inline-block;padding:.3rem .6rem;margin:.1rem;"
                           f"background:{_e(color)};border:1px solid #ccc\">{_e(name)}</span>"
                           for name, color in theme.items())
        parts.append(f"<h2>Theme</h2><p>{swatches}</p><pre>{_e(json.dumps(theme, indent=2))}</pre>")
    parts.append("</section>")
    for widget in ui["widgets"] + ui["settings_pages"]:
        function = widget.get("function")
        body = state.widget_html(function, widget.get("id", "")) if function else "<p>(no function)</p>"
        parts.append(f"<section><h2>{_e(widget.get('title', widget.get('id')))}</h2>"
                     f"<p><small>{_e(widget.get('component', ''))} {_e(widget.get('id'))}</small></p>"
                     f"<iframe sandbox title=\"{_e(widget.get('title', 'widget'))} preview\" "
                     f"srcdoc=\"{_e(body)}\"></iframe></section>")
    forms = []
    for name in data["functions"]:
        forms.append(f"<form onsubmit=\"send(this, '/api/functions/{_e(name)}'); return false\"><h3>{_e(name)}</h3>"
                     f"<label for=\"f-{_e(name)}\">Arguments (JSON: {{\"args\": [], \"kwargs\": {{}}}})</label>"
                     f"<textarea id=\"f-{_e(name)}\" rows=\"2\"></textarea><button>Call</button>"
                     f"<pre><output></output></pre></form>")
    parts.append(f"<section><h2>Functions</h2>{''.join(forms) or '<p>none</p>'}</section>")
    events = []
    for event in data["subscriptions"]:
        events.append(f"<form onsubmit=\"send(this, '/api/events/{_e(event)}'); return false\"><h3>{_e(event)}</h3>"
                      f"<label for=\"e-{_e(event)}\">Data (JSON: {{\"data\": …}}; empty sends a sample)</label>"
                      f"<textarea id=\"e-{_e(event)}\" rows=\"2\"></textarea><button>Send event</button>"
                      f"<pre><output></output></pre></form>")
    parts.append(f"<section><h2>Events it listens to</h2>{''.join(events) or '<p>none</p>'}</section>")
    calls = "".join(
        f"<tr class=\"{'denied' if c['outcome'] != 'ok' else ''}\"><td><code>{_e(c['method'])}</code></td>"
        f"<td>{_e(c['scope'] or '')}</td><td>{_e(c['outcome'])} {_e(c['error'])}</td></tr>"
        for c in reversed(data["calls"]))
    parts.append(f"<section><h2>Plugin API calls</h2><table><thead><tr><th>Method</th><th>Scope</th>"
                 f"<th>Outcome</th></tr></thead><tbody>{calls}</tbody></table></section>")
    platform = {k: data[k] for k in ("storage", "collections", "grades", "analytics", "content", "notifications",
                                     "emitted", "logs") if data[k]}
    parts.append(f"<section><h2>Mock platform data</h2><pre>{_e(json.dumps(platform, indent=2))}</pre></section>")
    parts.append(f"</main><script>{PAGE_SCRIPT % {'version': data['version']}}</script></body></html>")
    return "".join(parts)


class Handler(BaseHTTPRequestHandler):
    server_version = "aisquare-plugin-dev"
    state: DevState

    def log_message(self, format: str, *args: Any) -> None:  # noqa: A002 - the base class's name
        pass

    def _send(self, status: int, body: str | bytes, content_type: str) -> None:
        data = body.encode() if isinstance(body, str) else body
        self.send_response(status)
        self.send_header("Content-Type", content_type)
        self.send_header("Content-Length", str(len(data)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(data)

    def _json(self, value: Any, status: int = 200) -> None:
        self._send(status, json.dumps(value, default=str, indent=1), "application/json")

    def _body(self) -> dict[str, Any] | None:
        length = int(self.headers.get("Content-Length") or 0)
        if length > MAX_BODY:
            return None
        raw = self.rfile.read(length) if length else b""
        try:
            value = json.loads(raw) if raw.strip() else {}
        except ValueError:
            return None
        return value if isinstance(value, dict) else None

    def do_GET(self) -> None:  # noqa: N802
        path = unquote(urlsplit(self.path).path)
        state = self.state
        if path == "/":
            self._send(200, render_page(state), "text/html; charset=utf-8")
        elif path == "/api/version":
            self._json({"version": state.version})
        elif path == "/api/plugin":
            self._json(state.state())
        elif path.startswith("/api/storage/"):
            self._json(state.run("mock", "storage.get", {"key": path[len("/api/storage/"):]}))
        elif path == "/docs":
            setup = state.setup
            if setup is None or setup.loaded is None:
                self._send(503, "the plugin did not load", "text/plain; charset=utf-8")
                return
            code = analyze_project(setup.loaded.root, setup.loaded.manifest.main)
            self._send(200, render_html(setup.loaded.manifest, code), "text/html; charset=utf-8")
        else:
            self._json({"error": f"no page {path}"}, HTTPStatus.NOT_FOUND)

    def do_POST(self) -> None:  # noqa: N802
        path = unquote(urlsplit(self.path).path)
        body = self._body()
        if body is None:
            self._json({"ok": False, "error": "the body must be a JSON object of at most 1 MiB"}, 400)
            return
        routes = {"/api/functions/": "function", "/api/events/": "event", "/api/hooks/": "hook",
                  "/api/mock/": "mock"}
        for prefix, kind in routes.items():
            if path.startswith(prefix) and len(path) > len(prefix):
                result = self.state.run(kind, path[len(prefix):], body)
                self._json(result, 200 if result["ok"] else 400)
                return
        if path.startswith("/api/storage/"):
            result = self.state.run("mock", "storage.set", {"key": path[len("/api/storage/"):],
                                                            "value": body.get("value")})
            self._json(result, 200 if result["ok"] else 400)
            return
        self._json({"ok": False, "error": f"no endpoint {path}"}, HTTPStatus.NOT_FOUND)


class DevServer:
    def __init__(self, path: str | Path, host: str = "localhost", port: int = 3001, *, poll_interval: float = 0.5):
        self.state = DevState(find_root(path))
        handler = type("BoundHandler", (Handler,), {"state": self.state})
        self.httpd = ThreadingHTTPServer((host, port), handler)
        self.httpd.daemon_threads = True
        self.poll_interval = poll_interval
        self._stop = threading.Event()
        self._watcher = threading.Thread(target=self._watch, name="aisquare-dev-watch", daemon=True)

    @property
    def url(self) -> str:
        host, port = self.httpd.server_address[:2]
        return f"http://{host}:{port}"

    def _watch(self) -> None:
        while not self._stop.wait(self.poll_interval):
            if self.state.changed():
                self.state.reload()
                status = "reloaded" if not self.state.error else "reload failed: " + self.state.error.splitlines()[-1]
                print(f"{time.strftime('%H:%M:%S')} {status}", flush=True)

    def serve_forever(self) -> None:
        self._watcher.start()
        self.httpd.serve_forever(poll_interval=0.2)

    def start_in_thread(self) -> threading.Thread:
        thread = threading.Thread(target=self.serve_forever, name="aisquare-dev-server", daemon=True)
        thread.start()
        return thread

    def shutdown(self) -> None:
        self._stop.set()
        self.httpd.shutdown()
        self.httpd.server_close()
