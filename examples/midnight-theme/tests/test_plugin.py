"""Tests of Midnight Theme on the SDK's mock platform (run with `aisquare-plugin test`)."""

import unittest
from pathlib import Path

from aisquare_plugin_sdk.testing import PluginTestFramework

PLUGIN_DIR = Path(__file__).resolve().parent.parent


class MidnightThemeTest(unittest.TestCase):
    def test_applies_the_theme_and_a_settings_page(self):
        t = PluginTestFramework().setup_test(PLUGIN_DIR)
        [theme] = t.platform.ui["themes"]
        self.assertEqual(theme, {"primaryColor": "#60a5fa", "accentColor": "#fbbf24", "backgroundColor": "#0f172a",
                                 "textColor": "#f1f5f9"})
        self.assertEqual(t.call("theme")["mode"], "dark")
        self.assertEqual([p["id"] for p in t.platform.ui["settings_pages"]], ["midnight-theme-settings"])
        self.assertIn("#fbbf24", t.call("settings"))

    def test_a_readable_accent_from_the_settings_is_used(self):
        t = PluginTestFramework().setup_test(PLUGIN_DIR, config={"accent": "#f472b6"})
        self.assertEqual(t.platform.ui["themes"][0]["accentColor"], "#f472b6")

    def test_an_unreadable_or_malformed_accent_is_ignored_with_a_warning(self):
        for accent in ("#101820", "red; background:url(x)", 7):
            t = PluginTestFramework().setup_test(PLUGIN_DIR, config={"accent": accent})
            self.assertEqual(t.platform.ui["themes"][0]["accentColor"], "#fbbf24")
            self.assertEqual(t.context.logs[-1]["level"], "warning")

    def test_every_text_colour_is_readable_on_the_background(self):
        plugin_module = PluginTestFramework().setup_test(PLUGIN_DIR).loaded.module
        palette = plugin_module.PALETTE
        for name in ("text", "muted", "primary", "accent"):
            self.assertGreaterEqual(plugin_module.contrast(palette[name], palette["background"]), 4.5, name)

    def test_needs_no_permission_and_has_no_lifecycle_hooks(self):
        framework = PluginTestFramework()
        framework.setup_test(PLUGIN_DIR)
        self.assertEqual(framework.test_permissions(), [])
        self.assertEqual(set(framework.test_lifecycle().values()), {False})


if __name__ == "__main__":
    unittest.main()
