"""A plugin project on disk: its manifest and its main module, loaded the way the worker loads them.

Used by the testing framework, the dev server and the CLI (never inside the sandbox, where the worker imports the
main module itself). Standard library only.
"""

from __future__ import annotations

import importlib.util
import sys
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

from aisquare_plugin_sdk.manifest import MANIFEST_NAME, Manifest, ManifestError, parse_manifest
from aisquare_plugin_sdk.plugin import HOOKS, Plugin, exported_instance


class ProjectError(Exception):
    """The directory is not a loadable plugin project. `errors` lists every problem."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


def find_root(path: str | Path) -> Path:
    """The plugin directory: `path` itself when it holds plugin.json, else its nearest parent that does."""
    start = Path(path).resolve()
    for candidate in (start, *start.parents):
        if (candidate / MANIFEST_NAME).is_file():
            return candidate
    raise ProjectError([f"no {MANIFEST_NAME} in {start} or its parents (run `aisquare-plugin init NAME` first)"])


def read_manifest(root: Path) -> Manifest:
    path = root / MANIFEST_NAME
    try:
        raw = path.read_bytes()
    except OSError as exc:
        raise ProjectError([f"{MANIFEST_NAME}: cannot be read ({exc.strerror})"]) from None
    try:
        return parse_manifest(raw)
    except ManifestError as exc:
        raise ProjectError([f"{MANIFEST_NAME}: {error}" for error in exc.errors]) from None


@dataclass
class LoadedPlugin:
    """A plugin's main module, imported. `instance` is the `@export`ed Plugin, None for a module-style plugin."""

    root: Path
    manifest: Manifest
    module: ModuleType

    @property
    def instance(self) -> Plugin | None:
        return exported_instance(self.module)

    def hooks(self) -> list[str]:
        return [name for name in HOOKS if callable(getattr(self.module, name, None))]

    def functions(self) -> dict[str, Any]:
        """The module's public functions the worker may call (the rule of aisquare_plugin_sdk.worker)."""
        found = {}
        for name, value in vars(self.module).items():
            if (
                not name.startswith("_") and name not in HOOKS and name != "init" and callable(value)
                and getattr(value, "__module__", None) == self.module.__name__ and not isinstance(value, type)
                and not name.startswith("on_event_")
            ):
                found[name] = value
        return dict(sorted(found.items()))


_counter = 0


def load_plugin(path: str | Path, *, fresh: bool = True) -> LoadedPlugin:
    """Import the plugin in `path` under a unique module name (fresh each time: the dev server reloads with it)."""
    global _counter
    root = find_root(path)
    manifest = read_manifest(root)
    main = root / manifest.main
    if not main.is_file():
        raise ProjectError([f"main: {manifest.main} does not exist in {root}"])
    _counter += 1
    name = f"aisquare_plugin_{manifest.id.replace('-', '_')}_{_counter}" if fresh else manifest.main[:-3]
    spec = importlib.util.spec_from_file_location(name, main, submodule_search_locations=None)
    if spec is None or spec.loader is None:
        raise ProjectError([f"main: {manifest.main} cannot be imported"])
    module = importlib.util.module_from_spec(spec)
    # The worker imports the main module with the package root on sys.path; plugins may import their own modules.
    if str(root) not in sys.path:
        sys.path.insert(0, str(root))
    if fresh:  # the plugin's own helper modules are imported again too (the dev server's hot reload)
        for loaded_name, loaded_module in list(sys.modules.items()):
            origin = getattr(loaded_module, "__file__", None) or ""
            if origin and Path(origin).resolve().is_relative_to(root) and "tests" not in Path(origin).parts:
                sys.modules.pop(loaded_name, None)
    sys.modules[name] = module
    try:
        spec.loader.exec_module(module)
    except Exception:
        sys.modules.pop(name, None)
        raise
    loaded = LoadedPlugin(root=root, manifest=manifest, module=module)
    instance = loaded.instance
    if instance is not None:
        instance.metadata = manifest.data
        if not type(instance).id:
            instance.id = manifest.id
    return loaded
