"""The whole path a plugin author walks, against a running server: in a fresh venv with only the SDK,
`aisquare-plugin init` (assessment template) → `publish` (validate, test-free build, upload with a developer token,
the scan on a real Celery worker, the verdict printed) → a reviewer approves → an organization admin installs and
activates it → a member submits an assessment → the plugin, in the real sandbox, grades it."""

import shutil
import time

import pytest
from django.contrib.auth.models import Permission
from django.test import TestCase

from conftest import require
from developers.services import developer_token_create, submission_decide
from host import services as host_services
from host.models import Grade, Membership
from marketplace.models import PluginVersion
from runtime import services as runtime_services
from runtime.sandbox.pool import reset_pool
from tests.factories import DeveloperFactory, MembershipFactory, OrganizationFactory, UserFactory


def wait_for(check, what, timeout=90):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = check()
        if value:
            return value
        time.sleep(0.25)
    raise AssertionError(f"timed out waiting for {what}")


@pytest.mark.worker
@pytest.mark.sandbox
@pytest.mark.django_db(transaction=True)
def test_init_publish_scan_approve_install_submit_and_the_plugin_grades(sdk_env, tmp_path, live_server,
                                                                        celery_worker):
    require(shutil.which("bwrap") is not None, "bubblewrap (apt-get install bubblewrap)")
    reset_pool()
    developer = DeveloperFactory(company_name="Essay Tools")
    _, token = developer_token_create(developer=developer, name="laptop", scopes=["publish"])

    # The developer: init, then publish (which validates and builds first).
    assert sdk_env.run("init", "Essay Grader", "--template", "assessment", cwd=tmp_path).returncode == 0
    project = tmp_path / "essay-grader"
    published = sdk_env.run("publish", cwd=project, timeout=240,
                            env={"AISQUARE_URL": live_server.url, "AISQUARE_TOKEN": token})
    assert published.returncode == 0, published.stdout + published.stderr
    assert "100.0%" in published.stderr  # the upload's progress bar
    assert "Uploaded essay-grader 0.1.0" in published.stdout
    assert "Status: Passed scan, awaiting review" in published.stdout
    version = PluginVersion.objects.get(plugin_id="essay-grader", version="0.1.0")
    assert f"Review status: {live_server.url}/developer/versions/{version.pk}/" in published.stdout
    assert version.status == "passed"

    # The same version again: the server refuses it, the CLI says why in one line and exits 1.
    again = sdk_env.run("publish", "--wait", "0", cwd=project,
                        env={"AISQUARE_URL": live_server.url, "AISQUARE_TOKEN": token})
    errors = [line for line in again.stderr.splitlines() if line.startswith("error: ")]
    assert again.returncode == 1 and len(errors) == 1 and "the server answered 4" in errors[0], again.stderr
    # A revoked or wrong token is a usage error (exit 2).
    wrong = sdk_env.run("publish", "--wait", "0", cwd=project,
                        env={"AISQUARE_URL": live_server.url, "AISQUARE_TOKEN": "aisq_not-a-real-token"})
    assert wrong.returncode == 2 and "the server answered 401" in wrong.stderr, wrong.stderr

    # The review team approves.
    reviewer = UserFactory(username="reviewer", is_staff=True)
    reviewer.user_permissions.add(Permission.objects.get(codename="review_submission"))
    reviewer = type(reviewer).objects.get(pk=reviewer.pk)  # fresh permission cache
    submission_decide(submission=version.submission, reviewer=reviewer, decision="approve",
                      reason="Scopes match the code; tests shipped.")
    version.refresh_from_db()
    assert version.status == "approved"

    # An organization admin installs it with the scopes it asks for, and activates it.
    org = OrganizationFactory()
    admin, learner = UserFactory(role="org_admin"), UserFactory()
    MembershipFactory(organization=org, user=admin, role=Membership.Role.ADMIN)
    MembershipFactory(organization=org, user=learner)
    with TestCase.captureOnCommitCallbacks(execute=True):
        installation = runtime_services.installation_install(
            plugin_version=version, user=admin, org=org,
            granted_scopes=["assessments:read", "assessments:grade", "ai:use"])

    def installed():
        installation.refresh_from_db()
        return installation.status != "installing"

    wait_for(installed, "the installation to be provisioned")
    assert installation.status == "installed", installation.last_error
    runtime_services.installation_activate(installation=installation)

    # A learner submits an assessment; the plugin grades it in the sandbox.
    assessment = host_services.assessment_create(title="Photosynthesis essay", org=org, author=admin)
    submission = host_services.submission_create(
        assessment=assessment, user=learner,
        content="Photosynthesis turns light, water and carbon dioxide into glucose and oxygen in the chloroplasts.")
    grade = wait_for(lambda: Grade.objects.filter(submission=submission).first(), "the plugin's grade")
    assert grade.created_by_plugin == "essay-grader"
    assert 0 < grade.score <= 100 and grade.feedback
    reset_pool()
