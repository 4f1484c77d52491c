"""The example plugins, packaged by the SDK's build, installed and run in the real sandbox through the runtime's
services: the Advanced Assessment Suite grades a submission, tracks it and shows its widget on the dashboard;
Lesson Summaries summarizes a new lesson; Midnight Theme sets the theme."""

import shutil
import time
from pathlib import Path

import pytest
from django.core.files.base import ContentFile
from django.test import TestCase

from aisquare_plugin_sdk.build import build_bytes, package_files
from conftest import require
from host import services as host_services
from host.models import AnalyticsEvent, Content, Grade, Membership
from runtime import services
from runtime.package import read_package
from runtime.plugin_api.models import UIExtension
from runtime.sandbox.pool import reset_pool
from tests.factories import MembershipFactory, OrganizationFactory, PluginFactory, PluginVersionFactory, UserFactory

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"


@pytest.fixture
def school(db):
    require(shutil.which("bwrap") is not None, "bubblewrap (apt-get install bubblewrap)")
    reset_pool()
    org = OrganizationFactory()
    admin, learner = UserFactory(role="org_admin"), UserFactory()
    MembershipFactory(organization=org, user=admin, role=Membership.Role.ADMIN)
    MembershipFactory(organization=org, user=learner)
    yield org, admin, learner
    reset_pool()


def install_example(name, *, org, admin):
    """Package the example as `aisquare-plugin build` does, publish it as an approved version, install it with the
    scopes it asks for, and activate it."""
    root = EXAMPLES / name
    data = build_bytes(root, package_files(root))
    package = read_package(data)
    manifest = package.manifest
    version = PluginVersionFactory(
        plugin=PluginFactory(id=manifest.id, name=manifest.data["name"]), version=str(manifest.version),
        package=ContentFile(data, name=f"{manifest.id}.zip"), sha256=package.sha256, size=len(data),
        manifest=manifest.data,
    )
    with TestCase.captureOnCommitCallbacks(execute=True):
        installation = services.installation_install(plugin_version=version, user=admin, org=org,
                                                     granted_scopes=manifest.scopes)
    deadline = time.monotonic() + 60
    while installation.status == "installing" and time.monotonic() < deadline:
        time.sleep(0.1)
        installation.refresh_from_db()
    assert installation.status == "installed", installation.last_error
    return services.installation_activate(installation=installation)


@pytest.mark.sandbox
@pytest.mark.django_db
def test_advanced_assessment_suite_grades_tracks_and_shows_its_widget(school, client):
    org, admin, learner = school
    installation = install_example("advanced-assessment-suite", org=org, admin=admin)
    kinds = set(UIExtension.objects.filter(installation=installation).values_list("kind", "key"))
    assert kinds == {("menu_item", "advanced-assessments"), ("dashboard_widget", "assessment-analytics")}

    assessment = host_services.assessment_create(title="Essay", org=org, author=admin)
    with TestCase.captureOnCommitCallbacks(execute=True):
        submission = host_services.submission_create(
            assessment=assessment, user=learner,
            content="Plants use chlorophyll to capture light; photosynthesis makes glucose and releases oxygen.")
    grade = Grade.objects.get(submission=submission)
    assert grade.created_by_plugin == "advanced-assessment-suite" and 0 < grade.score <= 100 and grade.feedback
    tracked = AnalyticsEvent.objects.get(event="auto_grading_completed")
    assert tracked.properties["assessmentId"] == str(assessment.id)

    client.force_login(learner)
    page = client.get("/dashboard/").content.decode()
    assert "Advanced Assessments" in page and "Assessment Analytics" in page
    assert "<strong>1</strong> submissions auto-graded" in page


@pytest.mark.sandbox
@pytest.mark.django_db
def test_lesson_summaries_summarizes_a_new_lesson(school):
    org, admin, _ = school
    install_example("lesson-summaries", org=org, admin=admin)
    with TestCase.captureOnCommitCallbacks(execute=True):
        lesson = host_services.content_create(title="Cells", body="Cells are the units of life. They divide.",
                                              kind="lesson", org=org, author=admin)
        quiz = host_services.content_create(title="Quiz", kind="quiz", org=org, author=admin)
    lesson, quiz = Content.objects.get(pk=lesson.pk), Content.objects.get(pk=quiz.pk)
    assert lesson.metadata.get("summary")
    assert "summary" not in quiz.metadata


@pytest.mark.sandbox
@pytest.mark.django_db
def test_midnight_theme_sets_the_theme(school):
    org, admin, _ = school
    installation = install_example("midnight-theme", org=org, admin=admin)
    theme = UIExtension.objects.get(installation=installation, kind="theme")
    assert theme.config == {"primaryColor": "#60a5fa", "accentColor": "#fbbf24", "backgroundColor": "#0f172a",
                            "textColor": "#f1f5f9"}
    assert UIExtension.objects.filter(installation=installation, kind="settings_page").exists()
