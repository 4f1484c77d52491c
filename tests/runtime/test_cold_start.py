"""What a cold worker imports before a plugin's first call is what every cold start pays (docs/sandbox.md, "Cold
starts"): the boot script and the worker stay off `json`/`re`, `typing`, `ctypes` and friends, booted from nothing or
from a spare, and the plugin still gets the whole typed context and the whole protocol."""

import pytest

from runtime import services
from runtime.invocation import generation_of, worker_spec
from runtime.sandbox.pool import WorkerPool, get_backend

pytestmark = [pytest.mark.django_db, pytest.mark.sandbox]

# Each costs a cold start ~1-8 ms in the sandbox; a plugin that imports one pays for it itself.
EXPENSIVE = ("os", "json", "re", "enum", "functools", "collections", "typing", "ctypes", "signal", "types", "importlib",
             "warnings", "base64", "traceback", "dataclasses", "threading")

SOURCE = f'''
import sys

EXPENSIVE = {EXPENSIVE!r}
AT_IMPORT = [name for name in EXPENSIVE if name in sys.modules]
context = None

def init(ctx):
    global context
    context = ctx

def loaded():
    return {{"at_import": AT_IMPORT, "at_call": [name for name in EXPENSIVE if name in sys.modules]}}

def typed_context_works(value):
    from aisquare_plugin_sdk import InvalidRequest, PluginContext

    assert isinstance(context, PluginContext)
    try:
        context.events.emit("not an event name", {{}})
    except InvalidRequest:
        pass
    else:
        raise AssertionError("an invalid event name was accepted")
    context.storage.set("k", value)
    return context.storage.get("k")
'''


def _host(store):
    def answer(method, params):
        if method == "storage.set":
            store[params["key"]] = params["value"]
            return {}
        if method == "storage.get":
            return {"found": params["key"] in store, "value": store.get(params["key"])}
        raise AssertionError(f"unexpected Plugin API call {method}")

    return answer


@pytest.mark.parametrize("spares", [0, 1], ids=["booted from nothing", "from a spare"])
def test_a_cold_worker_imports_nothing_expensive_before_the_plugin_does(sandbox, make_version, install, spares):
    installation = install(make_version(SOURCE))
    code_dir, main = services._code_for(installation.plugin_version)
    spec, generation = worker_spec(installation, code_dir, main), generation_of(code_dir, main)
    pool = WorkerPool(get_backend(), 2, spares=spares)
    try:
        if spares and pool.spares is None:
            pytest.skip("no spare workers here (not a root host with mount slots)")
        if pool.spares:
            assert pool.spares.wait_ready()
        store = {}
        first = pool.call(spec, generation, "function", "loaded", [], {}, host=_host(store))
        assert first.cold and first.value == {"at_import": [], "at_call": []}
        # The typed context (built for init) and the codec still do all of their work, non-ASCII and floats too.
        value = {"é": [1.5, None, True], "n": 10**30}
        assert pool.call(spec, generation, "function", "typed_context_works", [value], {},
                         host=_host(store)).value == value
        assert store == {"k": value}
    finally:
        pool.close_all()
