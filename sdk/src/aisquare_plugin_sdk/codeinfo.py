"""What a plugin's source says about it, read with `ast` (never executed): its functions, hooks, event
subscriptions and emissions, UI extensions and Plugin API calls with the scope each needs.

Used by `aisquare-plugin validate` (a call whose scope the manifest does not declare is an error, as the publishing
scanner will find it) and `aisquare-plugin docs`.
"""

from __future__ import annotations

import ast
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aisquare_plugin_sdk.api_scopes import scope_for_call
from aisquare_plugin_sdk.platform_events import scope_for_event
from aisquare_plugin_sdk.plugin import FUNCTION_MARK, HOOKS, SPEC_HOOK_NAMES

API_NAMESPACES = ("content", "users", "assessments", "analytics", "communication", "ai")
UI_CALLS = {
    "register_component": "component", "registerComponent": "component", "add_menu_item": "menu item",
    "addMenuItem": "menu item", "add_dashboard_widget": "dashboard widget", "addDashboardWidget": "dashboard widget",
    "add_toolbar_action": "toolbar action", "addToolbarAction": "toolbar action",
    "add_settings_page": "settings page", "addSettingsPage": "settings page", "add_route": "route",
    "addRoute": "route", "customize_theme": "theme", "customizeTheme": "theme",
}
SKIP_DIRS = {"tests", "test", "__pycache__", "dist", "build", ".venv", "venv"}


@dataclass
class FunctionInfo:
    name: str
    params: list[str]
    doc: str
    file: str
    line: int


@dataclass
class ApiCall:
    call: str  # e.g. "ai.analyzeText" as written, normalized to the namespace.method the code used
    scope: str | None
    file: str
    line: int


@dataclass
class CodeInfo:
    functions: list[FunctionInfo] = field(default_factory=list)
    hooks: list[str] = field(default_factory=list)
    events_subscribed: list[str] = field(default_factory=list)
    events_emitted: list[str] = field(default_factory=list)
    ui: list[dict[str, Any]] = field(default_factory=list)
    api_calls: list[ApiCall] = field(default_factory=list)
    syntax_errors: list[str] = field(default_factory=list)
    has_entry_point: bool = False  # a module-level init(context) or an @export-ed Plugin class
    subscription_calls: list[ApiCall] = field(default_factory=list)

    @property
    def scopes_used(self) -> dict[str, list[ApiCall]]:
        """Scope -> the calls that need it (a subscription to a platform event counts as `events.on(<event>)`)."""
        used: dict[str, list[ApiCall]] = {}
        for call in self.api_calls + self.subscription_calls:
            if call.scope:
                used.setdefault(call.scope, []).append(call)
        return used


def _chain(node: ast.AST) -> list[str]:
    """`context.api.ai.analyze_text` -> ["context", "api", "ai", "analyze_text"] (best effort)."""
    parts: list[str] = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        parts.append(node.id)
    elif isinstance(node, ast.Call):
        parts.append("()")
    return parts[::-1]


def _literal(node: ast.AST | None) -> Any:
    try:
        return ast.literal_eval(node) if node is not None else None
    except (ValueError, TypeError, SyntaxError, MemoryError, RecursionError):
        return None


def _is_function_decorator(node: ast.expr) -> str | None:
    target = node.func if isinstance(node, ast.Call) else node
    name = target.attr if isinstance(target, ast.Attribute) else getattr(target, "id", None)
    if name != "function":
        return None
    if isinstance(node, ast.Call) and node.args and isinstance(_literal(node.args[0]), str):
        return _literal(node.args[0])
    return ""


def _params(fn: ast.FunctionDef | ast.AsyncFunctionDef, *, skip: int) -> list[str]:
    args = fn.args
    names = [a.arg for a in args.posonlyargs + args.args][skip:]
    names += [a.arg for a in args.kwonlyargs]
    if args.vararg:
        names.append("*" + args.vararg.arg)
    if args.kwarg:
        names.append("**" + args.kwarg.arg)
    return names


def analyze_file(path: Path, relative: str, info: CodeInfo, *, is_main: bool) -> None:
    try:
        tree = ast.parse(path.read_bytes(), filename=relative)
    except (SyntaxError, ValueError) as exc:
        line = getattr(exc, "lineno", 0) or 0
        info.syntax_errors.append(f"{relative}:{line}: {getattr(exc, 'msg', str(exc))}")
        return
    if is_main:
        _module_interface(tree, relative, info)
    for node in ast.walk(tree):
        if not isinstance(node, ast.Call):
            continue
        chain = _chain(node.func)
        if len(chain) >= 3 and chain[-3] == "api" and chain[-2] in API_NAMESPACES:
            call = f"{chain[-2]}.{chain[-1]}"
            info.api_calls.append(ApiCall(call, scope_for_call(call), relative, node.lineno))
        elif len(chain) >= 2 and chain[-2] == "events" and chain[-1] in ("on", "emit") and node.args:
            event = _literal(node.args[0])
            if isinstance(event, str):
                target = info.events_subscribed if chain[-1] == "on" else info.events_emitted
                if event not in target:
                    target.append(event)
                if chain[-1] == "on":
                    info.subscription_calls.append(ApiCall(f"events.on({event})", scope_for_event(event), relative,
                                                           node.lineno))
        elif len(chain) >= 3 and chain[-2] == "content" and chain[-1] == "subscribe" and node.args:
            event = _literal(node.args[0])
            if isinstance(event, str):
                name = event if ":" in event else f"content:{event}"
                if name not in info.events_subscribed:
                    info.events_subscribed.append(name)
                info.subscription_calls.append(ApiCall(f"events.on({name})", scope_for_event(name), relative,
                                                       node.lineno))
        elif len(chain) >= 2 and chain[-2] == "ui" and chain[-1] in UI_CALLS:
            value = _literal(node.args[0]) if node.args else None
            entry = {"kind": UI_CALLS[chain[-1]], "file": relative, "line": node.lineno}
            if isinstance(value, dict):
                entry.update({k: value[k] for k in ("id", "label", "title", "route", "position", "function")
                              if isinstance(value.get(k), str)})
            info.ui.append(entry)


def _module_interface(tree: ast.Module, relative: str, info: CodeInfo) -> None:
    """Hooks and functions: module-level ones (what the worker calls) and those of an `@export`ed Plugin class."""
    for node in tree.body:
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef) and not node.name.startswith("_"):
            if node.name == "init":
                info.has_entry_point = True
            if node.name in HOOKS:
                info.hooks.append(node.name)
            elif node.name != "init":
                info.functions.append(FunctionInfo(node.name, _params(node, skip=0), ast.get_docstring(node) or "",
                                                   relative, node.lineno))
        elif isinstance(node, ast.ClassDef):
            if any(_chain(d.func if isinstance(d, ast.Call) else d)[-1:] == ["export"] for d in node.decorator_list):
                info.has_entry_point = True
            for item in node.body:
                if not isinstance(item, ast.FunctionDef | ast.AsyncFunctionDef):
                    continue
                hook = SPEC_HOOK_NAMES.get(item.name, item.name)
                if hook in HOOKS and hook not in info.hooks:
                    info.hooks.append(hook)
                for decorator in item.decorator_list:
                    public = _is_function_decorator(decorator)
                    if public is not None:
                        info.functions.append(FunctionInfo(public or item.name, _params(item, skip=2),
                                                           ast.get_docstring(item) or "", relative, item.lineno))


def analyze_project(root: Path, main: str, files: list[str] | None = None) -> CodeInfo:
    """Analyze the plugin's .py files (`files`: the package's paths; tests excluded); `main` gives hooks and
    functions. Symbolic links are never followed."""
    info = CodeInfo()
    if files is None:
        files = [p.relative_to(root).as_posix() for p in root.rglob("*.py") if not p.is_symlink()]
    for relative in sorted(files):
        if not relative.endswith(".py"):
            continue
        if any(part in SKIP_DIRS or part.startswith(".") for part in Path(relative).parts[:-1]):
            continue
        path = root / relative
        if path.is_symlink() or not path.is_file():
            continue
        analyze_file(path, relative, info, is_main=relative == main)
    info.functions.sort(key=lambda f: f.name)
    return info


__all__ = ["FUNCTION_MARK", "ApiCall", "CodeInfo", "FunctionInfo", "analyze_project"]
