"""`aisquare-plugin init`: a new plugin project from a template (basic, assessment, analytics, ui-theme)."""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from pathlib import Path

from aisquare_plugin_sdk.manifest import CATEGORIES, PLUGIN_ID_RE, validate_manifest
from aisquare_plugin_sdk.project import ProjectError

TEMPLATE_DIR = Path(__file__).parent / "templates"


@dataclass(frozen=True)
class Template:
    category: str
    description: str
    permissions: tuple[tuple[str, str], ...] = ()


TEMPLATES = {
    "basic": Template("productivity", "Adds a menu item, greets people with a greeting kept in the plugin's own "
                      "storage, and keeps notes for each user. A starting point: replace this description with what "
                      "your plugin does for learners and teachers before you publish it."),
    "assessment": Template("assessment", "Grades every submitted assessment with the platform's AI as soon as it "
                           "is submitted: each submission gets a score and written feedback, and the plugin counts "
                           "how many it graded. Replace this description with yours before you publish.", (
        ("assessments:read", "Receive submitted assessments to grade them"),
        ("assessments:grade", "Record the grade of each submission it grades"),
        ("ai:use", "Use the platform's AI to grade submissions"),
    )),
    "analytics": Template("analytics", "Counts submitted assessments in the platform's analytics, creates a "
                          "dashboard at install and shows the count of the last 30 days in a dashboard widget. "
                          "Replace this description with what your plugin measures before you publish.", (
        ("assessments:read", "Receive submitted assessments to count them"),
        ("analytics:read", "Read the counts it reports on its dashboard widget"),
        ("analytics:write", "Track submissions and create its dashboard"),
    )),
    "ui-theme": Template("ui_theme", "A colour theme for the platform: primary, accent, background and text "
                         "colours, with the accent colour configurable in the installation's settings and a settings "
                         "page that explains it. Replace this description with yours before you publish."),
}


def plugin_id_for(name: str) -> str:
    slug = re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")
    if slug and slug[0].isdigit():
        slug = "plugin-" + slug
    return slug[:64].strip("-")


def _class_name(plugin_id: str) -> str:
    return "".join(part.capitalize() for part in plugin_id.split("-")) + ("Plugin" if "plugin" not in plugin_id
                                                                          else "")


def create_project(name: str, *, template: str = "basic", category: str | None = None,
                   directory: Path | None = None, author: str = "Your Name") -> Path:
    """Write the project into `directory` (default: ./<plugin id>). Raises ProjectError on bad input."""
    if template not in TEMPLATES:
        raise ProjectError([f"unknown template {template!r}; choose one of {', '.join(TEMPLATES)}"])
    if category is not None and category not in CATEGORIES:
        raise ProjectError([f"unknown category {category!r}; choose one of {', '.join(CATEGORIES)}"])
    plugin_id = plugin_id_for(name)
    if not plugin_id or not PLUGIN_ID_RE.match(plugin_id):
        raise ProjectError([f"{name!r} gives no usable plugin id; use letters and digits, e.g. my-plugin"])
    display = name.strip() if not PLUGIN_ID_RE.match(name) else name.replace("-", " ").title()
    if len(display) > 100:
        raise ProjectError(["the name is longer than 100 characters"])
    target = (directory or Path.cwd() / plugin_id).resolve()
    if target.exists() and (not target.is_dir() or any(target.iterdir())):
        raise ProjectError([f"{target} already exists and is not empty"])
    spec = TEMPLATES[template]
    values = {
        "id": plugin_id,
        "name": display,
        "class_name": _class_name(plugin_id),
        "description": spec.description,
        "author": author,
        "category": category or spec.category,
        "tags": json.dumps([template.replace("ui-theme", "theme")]),
        "permissions": json.dumps([{"scope": s, "reason": r} for s, r in spec.permissions]),
        "initial": display[:1].upper() if display[:1].isalnum() else "P",
    }
    files = {
        "plugin.json": TEMPLATE_DIR / "_common" / "plugin.json.tmpl",
        "README.md": TEMPLATE_DIR / "_common" / "README.md.tmpl",
        ".gitignore": TEMPLATE_DIR / "_common" / "gitignore.tmpl",
        "icon.svg": TEMPLATE_DIR / "_common" / "icon.svg.tmpl",
        "plugin.py": TEMPLATE_DIR / template / "plugin.py.tmpl",
        "tests/test_plugin.py": TEMPLATE_DIR / template / "test_plugin.py.tmpl",
    }
    rendered = {}
    for rel, source in files.items():
        text = source.read_text(encoding="utf-8")
        for key, value in values.items():
            if key in ("description", "name", "author"):
                value = json.dumps(value, ensure_ascii=False)[1:-1]
                if rel == "icon.svg":
                    value = value.replace("&", "&amp;").replace("<", "&lt;").replace('"', "&quot;")
            text = text.replace("{{" + key + "}}", value)
        rendered[rel] = text
    validate_manifest(json.loads(rendered["plugin.json"]))  # a template must never produce an invalid manifest
    target.mkdir(parents=True, exist_ok=True)
    for rel, text in rendered.items():
        path = target / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    return target
