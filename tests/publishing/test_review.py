"""The review console in the Django admin, the fail-closed scan, and publishing: what reviewers, developers and
strangers can and cannot do."""

import pytest
from django.core import mail

from developers import services
from developers.models import DeveloperNotice, ReviewAudit, Submission
from marketplace import api as marketplace_api
from marketplace.models import Plugin, PluginVersion
from tests.factories import UserFactory
from tests.publishing.packages import SUBPROCESS_VIA_IMPORT, build

pytestmark = pytest.mark.django_db


@pytest.fixture
def submit(developer, django_capture_on_commit_callbacks):
    def make(data=None, **kwargs):
        with django_capture_on_commit_callbacks(execute=True):
            version = services.submission_upload(developer=developer, user=developer.user, data=data or build(**kwargs))
        version.refresh_from_db()
        return version
    return make


@pytest.fixture
def console(client, reviewer):
    client.force_login(reviewer)
    return client


def decide(client, version, action, reason="", capture=None):
    url = f"/admin/developers/submission/{version.submission.pk}/decide/"
    if capture is None:
        return client.post(url, {"action": action, "reason": reason})
    with capture(execute=True):
        return client.post(url, {"action": action, "reason": reason})


def test_the_queue_lists_passed_versions_oldest_first_with_their_age(console, submit):
    first = submit()
    second = submit(version="1.1.0")
    submit(build(SUBPROCESS_VIA_IMPORT, version="1.2.0"))  # quarantined: not in the default queue

    response = console.get("/admin/developers/submission/")

    assert response.status_code == 200
    rows = list(response.context["cl"].result_list)
    assert [s.version_id for s in rows] == [first.pk, second.pk]
    assert b" min" in response.content  # the age column
    index = console.get("/admin/")
    assert b"review-queue-summary" in index.content
    assert b"<strong>2</strong>" in index.content


def test_the_version_page_shows_findings_quality_scopes_tree_and_diff(console, submit, reviewer):
    old = submit()
    with_more = build(version="1.1.0", permissions=[
        {"scope": "ai:use", "reason": "Analyse answers."},
        {"scope": "assessments:grade", "reason": "Record the grade."},
        {"scope": "users:read", "reason": "Greet the learner by name."},
    ], files={"extra.py": "def greet(context):\n    return context.call('users.getCurrent')\n"})
    services.submission_decide(submission=old.submission, reviewer=reviewer, decision="approve", reason="ok")
    new = submit(with_more)

    page = console.get(f"/admin/developers/submission/{new.submission.pk}/change/")

    assert page.status_code == 200
    html = page.content.decode()
    assert "Scan findings" in html
    assert "users:read" in html and "NEW" in html
    assert "extra.py" in html and "added" in html
    assert "+++ b/extra.py" in html
    assert "Quality 100 / 100" in html
    assert "compared with 1.0.0" in html


def test_approve_needs_a_reason_and_publishes(console, submit, reviewer, django_capture_on_commit_callbacks):
    version = submit()

    decide(console, version, "approve", reason="")
    version.refresh_from_db()
    assert version.status == "passed"

    mail.outbox.clear()
    response = decide(console, version, "approve", reason="Clean code, scopes justified.",
                      capture=django_capture_on_commit_callbacks)
    assert response.status_code == 302
    version.refresh_from_db()
    plugin = Plugin.objects.get(pk=version.plugin_id)
    assert version.status == "approved" and version.published_at
    assert plugin.version == "1.0.0" and plugin.is_published
    assert plugin.name == "Quiz Helper" and plugin.documentation_url == "https://example.test/docs"
    audit = ReviewAudit.objects.get(action="approve")
    assert audit.actor == reviewer and audit.reason == "Clean code, scopes justified."
    notice = DeveloperNotice.objects.filter(subject__contains="approved").get()
    assert "Clean code" in notice.body
    assert any("approved" in m.subject for m in mail.outbox)


def test_reject_and_request_changes_reach_the_developer(console, submit, django_capture_on_commit_callbacks):
    a = submit()
    b = submit(version="1.1.0")
    mail.outbox.clear()
    decide(console, a, "reject", reason="Copies another plugin.", capture=django_capture_on_commit_callbacks)
    decide(console, b, "request_changes", reason="Explain why you need ai:use.",
           capture=django_capture_on_commit_callbacks)
    a.refresh_from_db()
    b.refresh_from_db()
    assert a.status == "rejected" and b.status == "changes_requested"
    assert a.submission.reviewer_note == "Copies another plugin."
    assert {m.subject for m in mail.outbox} >= {"quiz-helper 1.0.0 was rejected by a reviewer",
                                                 "quiz-helper 1.1.0 needs changes before it can be published"}
    listed = marketplace_api.plugin_versions_of(plugin_ids=["quiz-helper"])
    assert {v.status for v in listed} == {"rejected", "changes_requested"}


def test_a_claimed_submission_cannot_be_decided_by_another_reviewer(console, submit, reviewer):
    version = submit()
    other = UserFactory(username="other-reviewer", is_staff=True, is_superuser=True)
    services.submission_claim(submission=version.submission, reviewer=other)

    decide(console, version, "approve", reason="looks fine")

    version.refresh_from_db()
    assert version.status == "passed"
    assert not ReviewAudit.objects.filter(action="approve").exists()


def test_quarantined_and_errored_versions_cannot_be_approved(console, submit, settings):
    bad = submit(build(SUBPROCESS_VIA_IMPORT))
    assert bad.status == "quarantined"
    decide(console, bad, "approve", reason="override")
    bad.refresh_from_db()
    assert bad.status == "quarantined"
    assert not Plugin.objects.get(pk=bad.plugin_id).is_published


def test_a_scanner_crash_or_timeout_is_errored_and_blocks_publication(submit, settings, monkeypatch, reviewer,
                                                                     tmp_path):
    from developers import scanner

    crashing = tmp_path / "ruff"
    crashing.write_text("#!/bin/sh\necho 'scanner exploded' >&2\nexit 101\n")
    crashing.chmod(0o755)
    monkeypatch.setattr(scanner, "RUFF_BINARY", str(crashing))  # the tool bandit's checks run in crashes
    version = submit()
    assert version.status == "errored"
    assert "scanner exploded" in version.submission.scan_error
    with pytest.raises(Exception):
        services.submission_decide(submission=version.submission, reviewer=reviewer, decision="approve",
                                   reason="ship it")
    version.refresh_from_db()
    assert version.status == "errored"

    monkeypatch.undo()
    settings.SCAN_TIMEOUT_SECONDS = 0
    timed_out = submit(version="1.1.0")
    assert timed_out.status == "errored"
    assert "timeout" in timed_out.submission.scan_error


def test_rescan_after_a_rule_change(submit, reviewer, settings, django_capture_on_commit_callbacks):
    from tests.publishing.packages import AWS_KEY

    version = submit(build(AWS_KEY))
    assert version.status == "rejected"
    settings.SCAN_MONITOR_ONLY_RULES = ["secret"]
    with django_capture_on_commit_callbacks(execute=True):
        services.submission_rescan(submission=version.submission, actor=reviewer)
    version.refresh_from_db()
    assert version.status == "passed"
    assert Submission.objects.get(pk=version.submission.pk).scan_count == 1
    assert ReviewAudit.objects.filter(action="rescan").count() == 1


def test_a_stale_scan_task_does_nothing(submit):
    version = submit()
    assert services.submission_scan(version_id=version.pk, generation=0) is None
    assert services.submission_scan(version_id=version.pk, generation=7) is None


def test_yank_falls_back_to_the_previous_version(console, submit, reviewer, django_capture_on_commit_callbacks):
    one = submit()
    services.submission_decide(submission=one.submission, reviewer=reviewer, decision="approve", reason="ok")
    two = submit(version="1.1.0")
    services.submission_decide(submission=two.submission, reviewer=reviewer, decision="approve", reason="ok")
    assert Plugin.objects.get(pk="quiz-helper").version == "1.1.0"
    from tests.factories import InstallationFactory

    teacher = UserFactory(username="teacher")
    InstallationFactory(plugin=two.plugin, plugin_version=two, version="1.1.0", user=teacher)

    decide(console, two, "yank", reason="", capture=django_capture_on_commit_callbacks)
    two.refresh_from_db()
    assert two.status == "approved"
    decide(console, two, "yank", reason="Leaks learner names.", capture=django_capture_on_commit_callbacks)

    two.refresh_from_db()
    assert two.status == "yanked" and two.yank_reason == "Leaks learner names."
    assert Plugin.objects.get(pk="quiz-helper").version == "1.0.0"
    assert ReviewAudit.objects.filter(action="yank", reason="Leaks learner names.").exists()
    told = teacher.notifications.get()
    assert "withdrawn" in told.title and "Leaks learner names." in told.body
    services.yanked_installations_notify(version_id=two.pk)  # a second delivery tells nobody twice
    assert teacher.notifications.count() == 1

    services.version_yank(submission=one.submission, actor=reviewer, reason="Also bad.")
    plugin = Plugin.objects.get(pk="quiz-helper")
    assert plugin.version == "" and not plugin.is_published


def test_blocklist_from_the_console_quarantines_later_uploads(console, submit, developer,
                                                             django_capture_on_commit_callbacks):
    version = submit()
    decide(console, version, "blocklist", reason="Known malware.")
    assert ReviewAudit.objects.filter(action="blocklist").exists()
    # Re-scanning the same package now finds its hash on the blocklist.
    with django_capture_on_commit_callbacks(execute=True):
        services.submission_rescan(submission=version.submission, actor=console_user(console))
    version.refresh_from_db()
    assert version.status == "quarantined"


def console_user(client):
    from django.contrib.auth import get_user_model

    return get_user_model().objects.get(pk=client.session["_auth_user_id"])


def test_staff_verify_developers_and_feature_plugins(console, submit, developer, reviewer):
    version = submit()
    decide(console, version, "feature", reason="Great for schools.")
    assert Plugin.objects.get(pk="quiz-helper").featured
    superuser = UserFactory(username="root", is_staff=True, is_superuser=True)
    console.force_login(superuser)
    response = console.post("/admin/developers/developer/", {
        "action": "verify", "_selected_action": [str(developer.pk)]})
    assert response.status_code == 302
    developer.refresh_from_db()
    assert developer.verified
    assert Plugin.objects.get(pk="quiz-helper").verified
    assert ReviewAudit.objects.filter(action="verify_developer", actor=superuser).exists()


def test_a_non_staff_user_cannot_reach_the_console_or_decide(client, submit, developer):
    version = submit()
    client.force_login(developer.user)
    assert client.get("/admin/developers/submission/").status_code == 302
    response = client.post(f"/admin/developers/submission/{version.submission.pk}/decide/",
                           {"action": "approve", "reason": "self-approval"})
    assert response.status_code == 302 and "/admin/login/" in response["Location"]
    version.refresh_from_db()
    assert version.status == "passed"


def test_staff_without_the_review_permission_cannot_decide(client, submit):
    version = submit()
    staff = UserFactory(username="support", is_staff=True)
    from django.contrib.auth.models import Permission

    staff.user_permissions.add(Permission.objects.get(codename="view_submission",
                                                      content_type__app_label="developers"))
    client.force_login(staff)
    assert client.get(f"/admin/developers/submission/{version.submission.pk}/change/").status_code == 200
    client.post(f"/admin/developers/submission/{version.submission.pk}/decide/",
                {"action": "approve", "reason": "I am support"})
    version.refresh_from_db()
    assert version.status == "passed"


def test_the_review_team_is_emailed_when_a_version_passes(submit, reviewer):
    mail.outbox.clear()
    submit()
    review_mail = [m for m in mail.outbox if m.subject.startswith("[review]")]
    assert len(review_mail) == 1 and review_mail[0].to == ["reviewer@example.test"]


def test_generic_version_admin_cannot_bypass_the_pipeline(client, submit):
    version = submit()
    superuser = UserFactory(username="root2", is_staff=True, is_superuser=True)
    client.force_login(superuser)
    client.post(f"/admin/marketplace/pluginversion/{version.pk}/change/", {"status": "approved"})
    version.refresh_from_db()
    assert version.status == "passed"
    assert PluginVersion.objects.get(pk=version.pk).published_at is None


def test_blocklist_admin_form_validates_and_audits(client, reviewer):
    from django.contrib.auth.models import Permission

    from developers.models import BlockedHash

    reviewer.user_permissions.add(*Permission.objects.filter(content_type__app_label="developers",
                                                             codename__in=["add_blockedhash", "view_blockedhash"]))
    client.force_login(reviewer)
    bad = client.post("/admin/developers/blockedhash/add/", {"sha256": "not-a-hash", "reason": "x"})
    assert bad.status_code == 200 and b"64 hexadecimal" in bad.content
    good = client.post("/admin/developers/blockedhash/add/", {"sha256": "AB" * 32, "reason": "Known stealer."})
    assert good.status_code == 302
    entry = BlockedHash.objects.get()
    assert entry.sha256 == "ab" * 32 and entry.added_by == reviewer
    assert ReviewAudit.objects.filter(action="blocklist", actor=reviewer).exists()


def test_bulk_rescan_from_the_queue(client, submit, django_capture_on_commit_callbacks):
    from tests.publishing.packages import AWS_KEY

    version = submit(build(AWS_KEY))
    assert version.status == "rejected"
    superuser = UserFactory(username="root3", is_staff=True, is_superuser=True)
    client.force_login(superuser)
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post("/admin/developers/submission/?queue=all", {
            "action": "rescan_selected", "_selected_action": [str(version.submission.pk)]})
    assert response.status_code == 302
    version.refresh_from_db()
    assert version.submission.scan_count == 1 and version.status == "rejected"
    assert ReviewAudit.objects.filter(action="rescan", actor=superuser).count() == 1
