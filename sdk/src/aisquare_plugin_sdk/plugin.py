"""The `Plugin` base class (spec §1 Plugin): lifecycle hooks, `init(context)`, and functions the platform may call.

The worker runs a plugin's main MODULE: it calls the module's `init(context)` once, its hooks `on_install()` …
`on_update(previous_version)`, its public functions, and the functions named by event subscriptions. A class-based
plugin is turned into exactly that with `@export`:

    from aisquare_plugin_sdk import Plugin, PluginContext, export, function

    @export
    class Greeter(Plugin):
        def init(self, context: PluginContext) -> None:
            context.ui.add_menu_item({"id": "greeter", "label": "Greeter", "route": "/plugins/greeter"})

        def on_install(self, context: PluginContext) -> None:
            context.storage.set("greeting", "Hello")

        @function
        def greet(self, context: PluginContext, name: str = "world") -> str:
            return f"{context.storage.get('greeting')}, {name}!"

`@export` writes module-level `init`, the overridden hooks and one function per `@function` method into the
module; each receives the typed context kept from `init`. Standard library only.
"""

from __future__ import annotations

import sys
from collections.abc import Callable
from typing import Any, TypeVar

from aisquare_plugin_sdk.plugin_api import PluginContext, run_maybe_async

HOOKS = ("on_install", "on_activate", "on_deactivate", "on_uninstall", "on_update")
# The spec's names (onInstall …) for the same hooks.
SPEC_HOOK_NAMES = {
    "onInstall": "on_install", "onActivate": "on_activate", "onDeactivate": "on_deactivate",
    "onUninstall": "on_uninstall", "onUpdate": "on_update",
}
FUNCTION_MARK = "__aisquare_function__"
T = TypeVar("T", bound=type)


class Plugin:
    """Subclass this; override `init` and the hooks you need. `self.context` is the typed context after `init`."""

    #: The plugin id (plugin.json's "id"); filled from the manifest by the SDK's tools when left empty.
    id: str = ""
    #: The manifest as a dict (plugin.json), when the tools loaded it.
    metadata: dict[str, Any] = {}  # noqa: RUF012 - replaced per instance, never mutated

    def __init__(self) -> None:
        self.context: PluginContext | None = None

    def init(self, context: PluginContext) -> None:
        """Register UI extensions and event handlers. Runs once per worker, before any hook or function."""

    def on_install(self, context: PluginContext) -> None:
        """The installation was created (after the user consented to the scopes)."""

    def on_activate(self, context: PluginContext) -> None:
        """The installation was activated."""

    def on_deactivate(self, context: PluginContext) -> None:
        """The installation was deactivated: its UI extensions and subscriptions are removed by the platform."""

    def on_uninstall(self, context: PluginContext) -> None:
        """The installation is being removed; clean up what the plugin keeps outside its storage."""

    def on_update(self, context: PluginContext, previous_version: str) -> None:
        """The installation moved to this version from `previous_version` (migrate stored data here)."""

    # --- introspection used by the worker shims, the testing framework, the dev server and `docs`

    @classmethod
    def implemented_hooks(cls) -> list[str]:
        """The hooks this class overrides (a hook left as the base's no-op is not "implemented")."""
        return [name for name in HOOKS if getattr(cls, name) is not getattr(Plugin, name)]

    @classmethod
    def functions(cls) -> dict[str, str]:
        """Public function name -> method name, for each `@function` method."""
        found = {}
        for attr in dir(cls):
            name = getattr(getattr(cls, attr, None), FUNCTION_MARK, None)
            if name:
                found[name] = attr
        return dict(sorted(found.items()))

    def bind(self, context: Any) -> PluginContext:
        typed = PluginContext.wrap(context, module=type(self).__module__)
        self.context = typed
        return typed

    def run_init(self, context: Any) -> None:
        run_maybe_async(self.init(self.bind(context)))

    def run_hook(self, name: str, /, *args: Any, bind_context: Any = None, **kwargs: Any) -> Any:
        """Run hook `name` (on_install or onInstall …) with the typed context (`bind_context` replaces it)."""
        hook = SPEC_HOOK_NAMES.get(name, name)
        if hook not in HOOKS:
            raise LookupError(f"{name!r} is not a lifecycle hook")
        typed = self.bind(bind_context) if bind_context is not None else self._require_context()
        return run_maybe_async(getattr(self, hook)(typed, *args, **kwargs))

    def call_function(self, name: str, /, *args: Any, bind_context: Any = None, **kwargs: Any) -> Any:
        """Call the `@function` named `name` as `method(context, *args, **kwargs)`."""
        method = self.functions().get(name)
        if method is None:
            raise LookupError(f"the plugin has no function {name[:100]!r}")
        typed = self.bind(bind_context) if bind_context is not None else self._require_context()
        return run_maybe_async(getattr(self, method)(typed, *args, **kwargs))

    def _require_context(self) -> PluginContext:
        if self.context is None:
            raise RuntimeError("init(context) has not run yet")
        return self.context


def function(arg: Callable[..., Any] | str | None = None) -> Any:
    """Mark a Plugin method as a function the platform (or a widget) may call: `@function` or `@function("name")`.

    The method is called as `method(self, context, **params)`.
    """

    def mark(method: Callable[..., Any], name: str | None = None) -> Callable[..., Any]:
        public = name or method.__name__
        if public.startswith("_") or not public.isidentifier() or public in HOOKS or public == "init":
            raise ValueError(f"{public!r} cannot be a plugin function name")
        setattr(method, FUNCTION_MARK, public)
        return method

    if callable(arg):
        return mark(arg)
    return lambda method: mark(method, arg)


def export(cls: T) -> T:
    """Class decorator: expose a Plugin subclass as the module-level interface the worker runs (see module doc)."""
    if not (isinstance(cls, type) and issubclass(cls, Plugin)):
        raise TypeError("@export decorates a subclass of aisquare_plugin_sdk.Plugin")
    module = sys.modules.get(cls.__module__)
    if module is None:
        raise RuntimeError(f"module {cls.__module__!r} is not being imported")
    namespace = module.__dict__
    if FUNCTION_MARK + "instance" in namespace:
        raise RuntimeError("only one Plugin class per module can be exported")
    instance = cls()
    shims: dict[str, Callable[..., Any]] = {}

    def init(context: Any) -> None:
        instance.run_init(context)

    shims["init"] = init
    for hook in cls.implemented_hooks():
        shims[hook] = _hook_shim(instance, hook)
    for public, method in cls.functions().items():
        shims[public] = _function_shim(instance, method)
    for name, shim in shims.items():
        existing = namespace.get(name)
        if existing is not None and existing is not cls:
            raise RuntimeError(f"@export would replace {name!r} already defined in {module.__name__}")
        shim.__name__ = shim.__qualname__ = name
        shim.__module__ = module.__name__  # the worker only calls functions defined by the plugin's module
        shim.__doc__ = getattr(getattr(cls, name, None), "__doc__", None) or shim.__doc__
        namespace[name] = shim
    namespace[FUNCTION_MARK + "instance"] = instance
    cls.instance = instance  # type: ignore[attr-defined]
    return cls


def _hook_shim(instance: Plugin, hook: str) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        return instance.run_hook(hook, *args, **kwargs)

    return run


def _function_shim(instance: Plugin, method: str) -> Callable[..., Any]:
    def run(*args: Any, **kwargs: Any) -> Any:
        return run_maybe_async(getattr(instance, method)(instance._require_context(), *args, **kwargs))

    return run


def exported_instance(module: Any) -> Plugin | None:
    """The Plugin instance `@export` made in `module`, if any."""
    return getattr(module, FUNCTION_MARK + "instance", None)
