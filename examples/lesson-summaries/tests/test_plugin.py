"""Tests of Lesson Summaries on the SDK's mock platform (run with `aisquare-plugin test`)."""

import unittest
from pathlib import Path

from aisquare_plugin_sdk import NotFound, PermissionDenied
from aisquare_plugin_sdk.testing import PluginTestFramework

PLUGIN_DIR = Path(__file__).resolve().parent.parent


class LessonSummariesTest(unittest.TestCase):
    def setUp(self):
        self.framework = PluginTestFramework()
        self.t = self.framework.setup_test(PLUGIN_DIR)

    def test_a_new_lesson_gets_a_summary(self):
        self.t.context.emit_platform_event("content:created")
        [lesson] = self.t.platform.content.values()
        self.assertTrue(lesson["metadata"]["summary"].startswith("[mock AI"))
        self.assertEqual(self.t.call("summary_count"), 1)

    def test_other_content_is_left_alone(self):
        item = self.t.platform._content_create({"title": "Quiz", "kind": "quiz"})
        self.t.context.emit_platform_event("content:created", self.t.platform.content_event(item))
        self.assertNotIn("summary", self.t.platform.content[item["id"]]["metadata"])

    def test_summarize_from_the_toolbar(self):
        self.assertEqual([a["id"] for a in self.t.platform.ui["toolbar_actions"]], ["summarize-lesson"])
        item = self.t.platform._content_create({"title": "Cells", "body": "Cells are the units of life.",
                                                "metadata": {"level": 2}})
        result = self.t.call("summarize", item["id"])
        self.assertEqual(self.t.platform.content[item["id"]]["metadata"], {"level": 2, "summary": result["summary"]})

    def test_an_unknown_lesson_is_not_found(self):
        with self.assertRaises(NotFound):
            self.t.call("summarize", "missing")

    def test_without_content_update_the_platform_refuses(self):
        self.t.context.revoke_permission("content:update")
        with self.assertRaises(PermissionDenied):
            self.t.context.emit_platform_event("content:created")

    def test_every_declared_scope_is_needed_and_enforced(self):
        results = self.framework.test_permissions()
        self.assertEqual(len(results), 3)
        for result in results:
            self.assertTrue(result["passed"], result)


if __name__ == "__main__":
    unittest.main()
