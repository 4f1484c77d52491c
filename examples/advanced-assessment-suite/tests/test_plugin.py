"""Tests of the Advanced Assessment Suite on the SDK's mock platform (run with `aisquare-plugin test`)."""

import unittest
from pathlib import Path

from aisquare_plugin_sdk import PermissionDenied
from aisquare_plugin_sdk.testing import PluginTestFramework

PLUGIN_DIR = Path(__file__).resolve().parent.parent


class AutoGradingTest(unittest.TestCase):
    def setUp(self):
        self.framework = PluginTestFramework()
        self.t = self.framework.setup_test(PLUGIN_DIR)

    def test_init_registers_menu_item_widget_and_subscription(self):
        self.assertEqual([i["id"] for i in self.t.platform.ui["menu_items"]], ["advanced-assessments"])
        self.assertEqual([w["id"] for w in self.t.platform.ui["widgets"]], ["assessment-analytics"])
        self.assertIn("assessment:submitted", self.t.platform.subscriptions)

    def test_a_submitted_assessment_is_graded_tracked_and_counted(self):
        self.t.hook("on_install")
        submission = self.t.platform.sample_submission()
        self.t.context.emit_platform_event("assessment:submitted", submission)

        [grade] = self.t.platform.grades
        self.assertEqual(grade["submissionId"], submission["id"])
        self.assertTrue(0 < float(grade["score"]) <= 100)
        self.assertTrue(grade["feedback"])
        self.assertIn("content", grade["rubricScores"])
        [event] = self.t.platform.analytics_events
        self.assertEqual(event["event"], "auto_grading_completed")
        self.assertEqual(event["properties"]["score"], float(grade["score"]))
        self.assertIn("1</strong> submissions auto-graded", self.t.call("dashboard_widget"))

    def test_auto_grading_can_be_turned_off_per_assessment(self):
        submission = self.t.platform.sample_submission()
        self.t.call("set_auto_grading", submission["assessmentId"], enabled=False)
        self.t.context.emit_platform_event("assessment:submitted", submission)
        self.assertEqual(self.t.platform.grades, [])

    def test_without_assessments_read_it_cannot_subscribe(self):
        with self.assertRaises(PermissionDenied):
            self.framework.setup_test(PLUGIN_DIR, permissions=["ai:use", "assessments:grade", "analytics:write"])

    def test_without_ai_scope_the_platform_refuses_and_nothing_is_graded(self):
        self.t.context.revoke_permission("ai:use")
        with self.assertRaises(PermissionDenied):
            self.t.context.emit_platform_event("assessment:submitted")
        self.assertEqual(self.t.platform.grades, [])

    def test_lifecycle(self):
        results = self.framework.test_lifecycle()
        self.assertEqual(results, {"install": True, "activate": False, "update": False, "deactivate": False,
                                   "uninstall": True})

    def test_every_declared_scope_is_needed_and_enforced(self):
        results = self.framework.test_permissions()
        self.assertEqual({r["permission"] for r in results},
                         {"assessments:read", "assessments:grade", "ai:use", "analytics:write"})
        for result in results:
            self.assertTrue(result["passed"], result)


if __name__ == "__main__":
    unittest.main()
