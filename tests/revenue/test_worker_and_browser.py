"""The payout run through a real Celery worker, and the buyer's and developer's pages in a real Chromium."""

import time
from datetime import UTC, datetime
from decimal import Decimal

import pytest

from revenue import services
from revenue.models import LocalGatewayRecord, Payout, PayoutAccount, RevenueEntry
from tests.factories import DeveloperFactory, UserFactory
from tests.revenue.conftest import paid_plugin


@pytest.mark.worker
@pytest.mark.django_db(transaction=True)
def test_the_beat_task_pays_through_a_real_worker(celery_worker):
    from revenue import tasks

    developer = DeveloperFactory()
    PayoutAccount.objects.create(developer=developer, gateway="local", account_id="acct-w", payouts_enabled=True)
    entry = services.ledger_record(plugin=paid_plugin(developer=developer), transaction_type="purchase",
                                   amount=Decimal("80.00"), currency="USD", external_id="pi_worker")
    RevenueEntry.objects.filter(pk=entry.pk).update(created_at=datetime(2026, 10, 3, tzinfo=UTC))

    # What beat sends on the 1st: the worker creates the payout and queues one send per payout.
    assert tasks.run_payouts.delay("2026-10").get(timeout=60) == {"created": 1, "queued": 1}
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and not Payout.objects.filter(status="paid").exists():
        time.sleep(0.2)
    payout = Payout.objects.get()
    assert payout.status == "paid" and payout.amount == Decimal("56.00")
    # A second beat run (or a redelivered task) pays nothing more.
    assert tasks.run_payouts.delay("2026-10").get(timeout=60) == {"created": 0, "queued": 0}
    assert LocalGatewayRecord.objects.filter(kind="tr").count() == 1


@pytest.mark.browser
@pytest.mark.django_db(transaction=True)
def test_buy_then_see_the_revenue_and_payout_pages(live_server, page, artifacts_dir, settings):
    developer = DeveloperFactory(user=UserFactory(username="studio"))
    plugin = paid_plugin(developer=developer, price="49.00")
    plugin.name = "Rubric Pro"
    plugin.save()
    buyer = UserFactory(username="teacher")

    page.goto(f"{live_server.url}/accounts/login/?next=/plugins/{plugin.pk}/buy/")
    page.fill("input[name=username]", buyer.username)
    page.fill("input[name=password]", "pass-word-123")
    page.click("form button[type=submit]")
    page.wait_for_url(f"**/plugins/{plugin.pk}/buy/")
    assert page.locator(".notice-test-mode").is_visible()
    page.screenshot(path=str(artifacts_dir / "revenue-1-buy.png"), full_page=True)
    page.get_by_role("button", name="Pay 49.00 USD").click()
    page.wait_for_url(f"**/plugins/{plugin.pk}/")
    assert RevenueEntry.objects.get().developer_share == Decimal("34.30")

    # The developer connects a payout account with the keyboard, then reads revenue and payouts.
    page.context.clear_cookies()
    page.goto(f"{live_server.url}/accounts/login/?next=/developer/payouts/connect/")
    page.fill("input[name=username]", "studio")
    page.fill("input[name=password]", "pass-word-123")
    page.click("form button[type=submit]")
    page.wait_for_url("**/developer/payouts/connect/")
    page.get_by_label("Account to be paid into").fill("NL91 ABNA 0417 1643 00")
    page.keyboard.press("Enter")
    page.wait_for_url("**/developer/revenue/")
    settings.PAYOUT_MINIMUM = Decimal("10.00")
    from django.utils import timezone

    services.payouts_run(period=timezone.localdate().replace(day=1))
    page.reload()
    chart = page.get_by_role("img", name="Your revenue share per month")
    assert chart.is_visible()
    assert page.locator("svg.revenue-chart rect.chart-bar").count() == 12
    assert "34.30 USD" in page.content() and "Paid" in page.content()
    page.screenshot(path=str(artifacts_dir / "revenue-2-developer.png"), full_page=True)
