"""The developer's revenue report (JSON, CSV), the portal pages, and the staff totals in the admin."""

import csv
import io
from datetime import UTC, date, datetime
from decimal import Decimal

import pytest
from rest_framework.test import APIClient

from revenue import services
from revenue.models import PayoutAccount, RevenueEntry
from tests.factories import DeveloperFactory, UserFactory
from tests.revenue.conftest import paid_plugin

pytestmark = pytest.mark.django_db


def sale(plugin, amount, external_id, when, currency="USD"):
    entry = services.ledger_record(plugin=plugin, transaction_type="purchase", amount=Decimal(amount),
                                   currency=currency, external_id=external_id)
    RevenueEntry.objects.filter(pk=entry.pk).update(created_at=when)
    return entry


@pytest.fixture
def ledger(developer):
    a = paid_plugin(developer=developer)
    b = paid_plugin(developer=developer)
    sale(a, "10.00", "pi_1", datetime(2026, 1, 5, tzinfo=UTC))
    sale(a, "9.99", "pi_2", datetime(2026, 2, 10, tzinfo=UTC))
    sale(b, "100.00", "pi_3", datetime(2026, 2, 11, tzinfo=UTC))
    services.reversal_record(payment_external_id="pi_3", reversal_external_id="re_1", amount=Decimal("100.00"),
                             currency="USD")
    RevenueEntry.objects.filter(external_id="re_1").update(created_at=datetime(2026, 2, 12, tzinfo=UTC))
    sale(b, "50.00", "pi_4", datetime(2026, 7, 1, tzinfo=UTC))
    # Another developer's money never shows up in this one's report.
    sale(paid_plugin(), "1000.00", "pi_other", datetime(2026, 2, 1, tzinfo=UTC))
    return a, b


def client_for(user):
    client = APIClient()
    client.force_authenticate(user)
    return client


def test_report_has_the_spec_shape_and_exact_figures(developer, ledger):
    a, b = ledger
    response = client_for(developer.user).get("/api/developer/revenue",
                                              {"period": "quarterly", "start": "2026-01-01"})
    assert response.status_code == 200, response.content
    report = response.json()
    assert set(report) >= {"developer_id", "period", "summary", "plugins", "generated_at"}
    assert report["developer_id"] == str(developer.pk)
    assert report["period"] == {"start": "2026-01-01", "end": "2026-03-31"}
    assert report["summary"] == {"total_revenue": "13.99", "total_transactions": 4, "total_platform_fees": "6.00"}
    assert report["plugins"][a.pk] == {"total_revenue": "13.99", "transaction_count": 2, "platform_fees": "6.00",
                                       "gross": "19.99", "currency": "USD"}
    assert report["plugins"][b.pk]["total_revenue"] == "0.00"  # sold and refunded
    assert report["plugins"][b.pk]["transaction_count"] == 2


def test_report_periods_and_bad_input(developer, ledger):
    client = client_for(developer.user)
    yearly = client.get("/api/developer/revenue", {"period": "yearly", "start": "2026-01-01"}).json()
    assert yearly["period"] == {"start": "2026-01-01", "end": "2026-12-31"}
    assert yearly["summary"]["total_revenue"] == "48.99"
    monthly = client.get("/api/developer/revenue", {"period": "monthly", "start": "2026-07-01"}).json()
    assert monthly["summary"] == {"total_revenue": "35.00", "total_transactions": 1, "total_platform_fees": "15.00"}
    explicit = client.get("/api/developer/revenue", {"start": "2026-02-11", "end": "2026-02-11"}).json()
    assert explicit["summary"]["total_transactions"] == 1
    for params in ({"period": "weekly"}, {"start": "2026-13-01"}, {"start": "2026-03-01", "end": "2026-02-01"}):
        bad = client.get("/api/developer/revenue", params)
        assert bad.status_code == 400, params
        assert bad.json()["error"]["message"]


def test_report_is_for_developers_only(db):
    assert APIClient().get("/api/developer/revenue").status_code == 401
    response = client_for(UserFactory()).get("/api/developer/revenue")
    assert response.status_code == 403 and response.json()["error"]["code"] == "not_a_developer"


def test_csv_export(developer, ledger):
    a, b = ledger
    client = client_for(developer.user)
    for response in (client.get("/api/developer/revenue", {"period": "quarterly", "start": "2026-01-01",
                                                           "format": "csv"}),
                     client.get("/api/developer/revenue.csv", {"period": "quarterly", "start": "2026-01-01"})):
        assert response.status_code == 200
        assert response["Content-Type"].startswith("text/csv")
        assert "attachment" in response["Content-Disposition"]
        rows = list(csv.reader(io.StringIO(response.content.decode())))
        assert rows[0] == ["period_start", "period_end", "plugin_id", "currency", "transaction_count",
                           "total_revenue", "platform_fees", "gross"]
        assert ["2026-01-01", "2026-03-31", a.pk, "USD", "2", "13.99", "6.00", "19.99"] in rows
        assert rows[-1][2:7] == ["TOTAL", "USD", "4", "13.99", "6.00"]
    bad = client.get("/api/developer/revenue.csv", {"period": "weekly"})
    assert bad.status_code == 400 and b"period" in bad.content


def test_revenue_page_draws_the_chart_on_the_server_and_lists_payouts(client, developer, ledger, settings):
    settings.PAYOUT_MINIMUM = Decimal("1.00")
    services.payouts_run(period=date(2026, 7, 1))
    client.force_login(developer.user)
    page = client.get("/developer/revenue/")
    assert page.status_code == 200
    html = page.content.decode()
    assert "<svg" in html and 'class="chart-bar"' in html and "<script" not in html
    assert "notice-test-mode" in html
    assert "Paid" in html and "USD" in html
    assert "local-acct-1" in html


def test_revenue_page_is_for_developers_only(client):
    assert client.get("/developer/revenue/").status_code == 302
    client.force_login(UserFactory())
    assert client.get("/developer/revenue/").status_code == 404


def test_connect_page_local_form(client, db):
    developer = DeveloperFactory()
    client.force_login(developer.user)
    page = client.get("/developer/payouts/connect/")
    assert page.status_code == 200 and "notice-test-mode" in page.content.decode()
    assert 'label for="account_id"' in page.content.decode()
    empty = client.post("/developer/payouts/connect/", {"account_id": "  "})
    assert empty.status_code == 400 and "Enter the payout account" in empty.content.decode()
    assert not PayoutAccount.objects.exists()
    saved = client.post("/developer/payouts/connect/", {"account_id": "DE89 3704 0044 0532 0130 00"})
    assert saved.status_code == 302
    account = PayoutAccount.objects.get(developer=developer)
    assert (account.account_id, account.payouts_enabled, account.gateway) == (
        "DE89 3704 0044 0532 0130 00", True, "local")


def test_staff_see_platform_totals_in_the_admin(client, developer, ledger):
    staff = UserFactory(is_staff=True, is_superuser=True)
    client.force_login(staff)
    page = client.get("/admin/revenue/revenueentry/")
    assert page.status_code == 200
    html = page.content.decode()
    assert 'id="platform-totals"' in html
    # gross 10 + 9.99 + 100 - 100 + 50 + 1000 = 1069.99; fees 3 + 3 + 0 + 15 + 300 = 321.00
    assert "1069.99" in html and "321.00" in html
    client.force_login(developer.user)
    assert client.get("/admin/revenue/revenueentry/").status_code == 302
