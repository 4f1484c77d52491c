"""`manage.py plugin_exec PATH.zip FUNCTION [--args JSON_LIST] [--kwargs JSON_OBJECT] [--grant SCOPE ...]
[--timeout S] [--memory MB]`: run one function of a package in the real sandbox, in a throwaway installation.

Exit codes (a contract): 0 and the JSON return value on stdout; 3 when the sandbox or the host stopped the call
(limit, violation, timeout, permission) or no sandbox is available; 2 when the package or the arguments are invalid;
1 when the plugin's own code raised. Every failure prints one line on stderr saying why. Nothing is left behind:
the code and data live in a temporary directory, storage in memory, and no database row is written.
"""

from __future__ import annotations

import json
import sys
import tempfile
import uuid
from pathlib import Path
from typing import Any

from django.core.management.base import BaseCommand

from aisquare_plugin_sdk.api_scopes import API_SCOPES
from aisquare_plugin_sdk.manifest import SCOPES
from runtime.package import PackageError, extract_package, read_package
from runtime.plugin_files import compile_bytecode, remove_tree
from runtime.sandbox import volumes
from runtime.sandbox.base import Limits, PluginCallError, SandboxError, WorkerSpec
from runtime.sandbox.pool import WorkerPool, get_backend
from runtime.sandbox.protocol import HostCallRefused

EXIT_OK, EXIT_PLUGIN_ERROR, EXIT_INVALID, EXIT_STOPPED = 0, 1, 2, 3


class Stop(Exception):
    def __init__(self, code: int, message: str):
        super().__init__(message)
        self.code = code
        self.message = message


class ThrowawayHost:
    """The Plugin API of a throwaway installation: in-memory storage, scope checks, the per-minute rate limit."""

    def __init__(self, granted: set[str], limits: Limits):
        self.granted = granted
        self.limits = limits
        self.storage: dict[str, Any] = {}
        self.calls = 0
        self.refused: list[tuple[str, str]] = []

    def __call__(self, method: str, params: dict[str, Any]) -> Any:
        try:
            return self._handle(method, params)
        except HostCallRefused as exc:
            self.refused.append((exc.code, exc.message))
            raise

    def _handle(self, method: str, params: dict[str, Any]) -> Any:
        self.calls += 1
        if self.calls > self.limits.api_calls_per_minute:
            raise HostCallRefused("rate_limited", f"more than {self.limits.api_calls_per_minute} API calls a minute")
        if method.startswith("storage.") and method in ("storage.get", "storage.set", "storage.delete"):
            key = params.get("key")
            if not isinstance(key, str) or not key or len(key) > 255:
                raise HostCallRefused("invalid", "key must be a non-empty string of at most 255 characters")
            if method == "storage.get":
                return {"found": key in self.storage, "value": self.storage.get(key)}
            if method == "storage.set":
                self.storage[key] = params.get("value")
                return {"size": len(json.dumps(params.get("value")))}
            return {"deleted": self.storage.pop(key, None) is not None}
        scope = API_SCOPES.get(method)
        if scope and scope not in self.granted:
            raise HostCallRefused("permission_denied", f"{method} needs the permission {scope!r}, not granted")
        raise HostCallRefused("unavailable", f"{method} is not available to a throwaway installation")


class Command(BaseCommand):
    help = "Run FUNCTION of a plugin package in the real sandbox, in a throwaway installation; print its JSON result."
    requires_system_checks: list = []

    def add_arguments(self, parser):
        parser.add_argument("path")
        parser.add_argument("function")
        # Django keeps "args" for itself: the flags keep their names, their values other keys.
        parser.add_argument("--args", dest="call_args", default="[]", metavar="JSON_LIST")
        parser.add_argument("--kwargs", dest="call_kwargs", default="{}", metavar="JSON_OBJECT")
        parser.add_argument("--grant", action="append", default=[], metavar="SCOPE")
        parser.add_argument("--timeout", type=float, default=None)
        parser.add_argument("--memory", type=int, default=None)

    def handle(self, *args, **options):
        try:
            value = self.run(options)
        except Stop as stop:
            sys.stderr.write(stop.message.replace("\n", " ")[:1000] + "\n")
            sys.stderr.flush()
            sys.exit(stop.code)
        sys.stdout.write(json.dumps(value) + "\n")
        sys.stdout.flush()

    def run(self, options) -> Any:
        try:
            data = Path(options["path"]).read_bytes()
        except OSError as exc:
            raise Stop(EXIT_INVALID, f"invalid package: cannot read {options['path']}: {exc.strerror}")
        try:
            package = read_package(data)
        except PackageError as exc:
            raise Stop(EXIT_INVALID, f"invalid package: {exc.code}: {exc.message}")
        try:
            call_args = json.loads(options["call_args"])
            call_kwargs = json.loads(options["call_kwargs"])
        except ValueError as exc:
            raise Stop(EXIT_INVALID, f"invalid arguments: not JSON ({exc})")
        if not isinstance(call_args, list) or not isinstance(call_kwargs, dict):
            raise Stop(EXIT_INVALID, "invalid arguments: --args must be a JSON list and --kwargs a JSON object")
        unknown = sorted(set(options["grant"]) - set(SCOPES))
        if unknown:
            raise Stop(EXIT_INVALID, f"invalid arguments: unknown scope(s) {', '.join(unknown)}")
        try:
            limits = Limits.from_settings().tighten(
                {"function_timeout": options["timeout"], "memory_mb": options["memory"]})
        except ValueError as exc:
            raise Stop(EXIT_INVALID, f"invalid arguments: {exc}")
        try:
            backend = get_backend()
        except SandboxError as exc:
            raise Stop(EXIT_STOPPED, f"sandbox unavailable: {exc.message}")

        workdir = Path(tempfile.mkdtemp(prefix="plugin-exec-"))
        pool = WorkerPool(backend, 1)
        host = ThrowawayHost(set(options["grant"]), limits)
        try:
            code_dir, data_dir = workdir / "code", workdir / "data"
            extract_package(package, code_dir)
            compile_bytecode(code_dir)
            data_dir.mkdir(mode=0o700)
            image = workdir / "data.img"
            volume = image if volumes.make_volume(image, limits.disk_mb) else None
            installation_id = str(uuid.uuid4())
            spec = WorkerSpec(
                key=installation_id, code_dir=code_dir, data_dir=data_dir, main=package.manifest.main, limits=limits,
                data_volume=volume,
                info={"plugin_id": package.manifest.id, "installation_id": installation_id,
                      "version": str(package.manifest.version), "settings": {}},
            )
            for kind, name, a, k in (("hook", "on_install", [], {}), ("hook", "on_activate", [], {}),
                                     ("function", options["function"], call_args, call_kwargs)):
                refused_before = len(host.refused)
                try:
                    value = pool.call(spec, "throwaway", kind, name, a, k, host=host).value
                except SandboxError as exc:
                    raise Stop(EXIT_STOPPED, f"stopped: {exc.reason}: {exc.message}")
                except PluginCallError as exc:
                    if exc.error_type == "NoSuchFunction":
                        raise Stop(EXIT_INVALID, f"invalid arguments: {exc.message}")
                    refusals = host.refused[refused_before:]
                    if refusals:
                        code, message = refusals[-1]
                        label = "permission" if code == "permission_denied" else code
                        raise Stop(EXIT_STOPPED, f"stopped: {label}: {message}")
                    where = f"{name}" if kind == "function" else f"hook {name}"
                    raise Stop(EXIT_PLUGIN_ERROR, f"plugin error in {where}: {exc.error_type}: {exc.message}")
            return value
        finally:
            pool.close_all()
            remove_tree(workdir)
