"""Midnight Theme: a dark theme with a configurable accent colour; needs no permission."""

from __future__ import annotations

import re
from typing import Any

from aisquare_plugin_sdk import Plugin, PluginContext, export, function

PALETTE = {
    "background": "#0f172a",
    "surface": "#1e293b",
    "text": "#f1f5f9",
    "muted": "#94a3b8",
    "primary": "#60a5fa",
    "accent": "#fbbf24",
}
HEX_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")


def _luminance(color: str) -> float:
    def channel(value: int) -> float:
        c = value / 255
        return c / 12.92 if c <= 0.03928 else ((c + 0.055) / 1.055) ** 2.4

    r, g, b = (int(color[i:i + 2], 16) for i in (1, 3, 5))
    return 0.2126 * channel(r) + 0.7152 * channel(g) + 0.0722 * channel(b)


def contrast(a: str, b: str) -> float:
    """The WCAG contrast ratio of two colours."""
    high, low = sorted((_luminance(a), _luminance(b)), reverse=True)
    return (high + 0.05) / (low + 0.05)


@export
class MidnightTheme(Plugin):
    def init(self, context: PluginContext) -> None:
        colors = self.theme(context)["colors"]
        context.ui.customize_theme({"primaryColor": colors["primary"], "accentColor": colors["accent"],
                                    "backgroundColor": colors["background"], "textColor": colors["text"]})
        context.ui.add_settings_page({"id": "midnight-theme-settings", "title": "Midnight Theme",
                                      "function": "settings"})

    @function
    def theme(self, context: PluginContext) -> dict[str, Any]:
        """The theme. The accent comes from the `accent` setting when it is a #rrggbb colour readable on the
        background (contrast of at least 4.5:1); otherwise the default accent is kept."""
        accent = context.config.get("accent", PALETTE["accent"])
        if not isinstance(accent, str) or not HEX_COLOR.match(accent) or contrast(accent, PALETTE["background"]) < 4.5:
            if accent != PALETTE["accent"]:
                context.logger.warning("accent colour ignored: not #rrggbb or too little contrast", accent=accent)
            accent = PALETTE["accent"]
        return {"name": "Midnight", "mode": "dark", "colors": {**PALETTE, "accent": accent},
                "fonts": {"body": "system-ui, sans-serif"}}

    @function
    def settings(self, context: PluginContext, request: dict[str, Any] | None = None) -> str:
        """The settings page: the current palette."""
        colors = self.theme(context)["colors"]
        rows = "".join(f"<li><code>{name}</code> {value}</li>" for name, value in colors.items())
        return f"<h3>Midnight Theme</h3><p>Set <code>accent</code> to a #rrggbb colour.</p><ul>{rows}</ul>"
