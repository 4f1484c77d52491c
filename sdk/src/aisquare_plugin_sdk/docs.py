"""`aisquare-plugin docs`: a plugin's reference from its manifest and its code (read with ast, not executed):
overview, permissions with the calls that use them, lifecycle hooks, functions, events and UI extensions.
Markdown or HTML."""

from __future__ import annotations

import html
import re

from aisquare_plugin_sdk.codeinfo import CodeInfo
from aisquare_plugin_sdk.manifest import Manifest

HOOK_TEXT = {
    "on_install": "runs when a user or organization installs the plugin",
    "on_activate": "runs when the installation is activated",
    "on_deactivate": "runs when the installation is deactivated",
    "on_uninstall": "runs when the plugin is uninstalled",
    "on_update": "runs after an update, with the previous version",
}


def _price(pricing: dict) -> str:
    model = pricing.get("model", "free")
    if model == "free":
        return "free"
    if model == "usage_based":
        return f"usage-based ({pricing.get('currency', 'USD')}, {len(pricing.get('tiers', []))} tiers)"
    suffix = f" per {pricing['interval']}" if model == "subscription" else " once"
    return f"{pricing.get('price')} {pricing.get('currency', 'USD')}{suffix}"


def render_markdown(manifest: Manifest, code: CodeInfo) -> str:
    data = manifest.data
    out = [f"# {data['name']}", "", data.get("description") or "", ""]
    out += [
        "| | |", "|---|---|",
        f"| Plugin id | `{manifest.id}` |",
        f"| Version | {manifest.version} |",
        f"| Category | {data['category']} |",
        f"| Author | {data['author']['name']} |",
        f"| Platform | {data['minPlatformVersion']}"
        + (f" to {data['maxPlatformVersion']}" if data.get("maxPlatformVersion") else " or later") + " |",
        f"| Price | {_price(manifest.pricing)} |",
        "",
    ]
    used = code.scopes_used
    out += ["## Permissions", ""]
    if not data["permissions"]:
        out += ["This plugin asks for no permission.", ""]
    else:
        out += ["| Scope | Why | Optional | Used by |", "|---|---|---|---|"]
        for permission in data["permissions"]:
            calls = sorted({c.call for c in used.get(permission["scope"], [])})
            out.append(f"| `{permission['scope']}` | {_cell(permission['reason'])} | "
                       f"{'yes' if permission.get('optional') else 'no'} | "
                       f"{', '.join(f'`{c}`' for c in calls) or '—'} |")
        out.append("")
    undeclared = sorted(set(used) - set(manifest.scopes))
    if undeclared:
        out += [f"> **Undeclared:** the code needs {', '.join(f'`{s}`' for s in undeclared)}; "
                "the platform will refuse those calls.", ""]
    out += ["## Lifecycle hooks", ""]
    out += [f"- `{hook}`: {HOOK_TEXT[hook]}" for hook in code.hooks] or ["None."]
    out += ["", "## Functions", ""]
    if not code.functions:
        out += ["None.", ""]
    for fn in code.functions:
        out += [f"### `{fn.name}({', '.join(fn.params)})`", "", fn.doc or "(no docstring)", "",
                f"Defined in `{fn.file}` line {fn.line}.", ""]
    out += ["## Events", ""]
    out += [f"- listens to `{event}`" for event in code.events_subscribed]
    out += [f"- emits `{event}`" for event in code.events_emitted]
    if not code.events_subscribed and not code.events_emitted:
        out.append("None.")
    out += ["", "## UI extensions", ""]
    for item in code.ui:
        label = item.get("label") or item.get("title") or ""
        details = ", ".join(f"{k} `{item[k]}`" for k in ("id", "route", "position", "function") if k in item)
        out.append(f"- {item['kind']}" + (f" “{label}”" if label else "") + (f": {details}" if details else ""))
    if not code.ui:
        out.append("None.")
    out += ["", "## Plugin API calls", ""]
    if code.api_calls:
        out += ["| Call | Scope | Where |", "|---|---|---|"]
        for call in code.api_calls:
            out.append(f"| `{call.call}` | {f'`{call.scope}`' if call.scope else '—'} | {call.file}:{call.line} |")
    else:
        out.append("None.")
    if data.get("documentationUrl") or data.get("supportUrl"):
        out += ["", "## Links", ""]
        out += [f"- Documentation: {data['documentationUrl']}"] if data.get("documentationUrl") else []
        out += [f"- Support: {data['supportUrl']}"] if data.get("supportUrl") else []
    return "\n".join(out).rstrip() + "\n"


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render_html(manifest: Manifest, code: CodeInfo) -> str:
    """The same document as HTML: a small Markdown subset rendered with every text escaped."""
    lines = render_markdown(manifest, code).splitlines()
    body, table, para = [], [], []

    def inline(text: str) -> str:
        text = html.escape(text)
        text = re.sub(r"`([^`]+)`", r"<code>\1</code>", text)
        return re.sub(r"\*\*([^*]+)\*\*", r"<strong>\1</strong>", text)

    def flush_table() -> None:
        if table:
            rows = [r for r in table if not re.fullmatch(r"\|[-| ]+\|", r)]
            cells = [[c.strip() for c in re.split(r"(?<!\\)\|", r)[1:-1]] for r in rows]
            head, *rest = cells
            body.append("<table><thead><tr>" + "".join(f"<th>{inline(c)}</th>" for c in head) + "</tr></thead>"
                        + "<tbody>" + "".join("<tr>" + "".join(f"<td>{inline(c.replace(chr(92) + '|', '|'))}</td>"
                                                                for c in row) + "</tr>" for row in rest)
                        + "</tbody></table>")
            table.clear()

    in_list = False
    for line in lines + [""]:
        if line.startswith("|"):
            table.append(line)
            continue
        flush_table()
        if line.startswith("- "):
            if not in_list:
                body.append("<ul>")
                in_list = True
            body.append(f"<li>{inline(line[2:])}</li>")
            continue
        if in_list:
            body.append("</ul>")
            in_list = False
        if line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            body.append(f"<h{level}>{inline(line[level:].strip())}</h{level}>")
        elif line.startswith("> "):
            body.append(f"<blockquote>{inline(line[2:])}</blockquote>")
        elif line.strip():
            para.append(line)
            body.append(f"<p>{inline(line)}</p>")
    title = html.escape(manifest.data["name"])
    return ("<!doctype html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            f"<title>{title}: plugin reference</title>"
            "<style>body{font-family:system-ui,sans-serif;max-width:60rem;margin:2rem auto;padding:0 1rem}"
            "table{border-collapse:collapse}td,th{border:1px solid #ccc;padding:.3rem .5rem;text-align:left}"
            "code{background:#f3f4f6;padding:0 .2rem}</style></head><body>\n"
            + "\n".join(body) + "\n</body></html>\n")
