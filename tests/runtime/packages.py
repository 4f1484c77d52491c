"""Build plugin packages in memory for the runtime tests."""

import io
import json
import zipfile

BENIGN_SOURCE = '''
def add(a, b):
    return a + b

def echo(*args, **kwargs):
    return {"args": list(args), "kwargs": kwargs}

def remember(key, value):
    context.storage.set(key, value)
    return context.storage.get(key)

def recall(key):
    return context.storage.get(key)

context = None

def init(ctx):
    global context
    context = ctx
'''


def manifest(plugin_id="benign", version="1.0.0", **extra):
    data = {
        "id": plugin_id,
        "name": plugin_id.title(),
        "version": version,
        "description": "A test plugin.",
        "author": {"name": "Tester"},
        "category": "productivity",
        "permissions": [],
        "minPlatformVersion": "2.0.0",
    }
    data.update(extra)
    return data


def build_package(source=BENIGN_SOURCE, *, plugin_id="benign", version="1.0.0", files=None, manifest_data=None,
                  **extra) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("plugin.json", json.dumps(manifest_data or manifest(plugin_id, version, **extra)))
        if source is not None:
            zf.writestr("plugin.py", source)
        for name, content in (files or {}).items():
            zf.writestr(name, content)
    return buffer.getvalue()
