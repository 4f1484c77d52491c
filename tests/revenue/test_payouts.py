"""Payouts: one per developer, currency and period; minimum and carry-over; never paid twice, whatever happens."""

import threading
import time
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, transaction
from django.utils import timezone

from revenue import services
from revenue.gateways import GatewayError
from revenue.gateways.local import LocalGateway
from revenue.models import LocalGatewayRecord, Payout, PayoutAttempt, RevenueEntry
from tests.factories import DeveloperFactory
from tests.revenue.conftest import paid_plugin

pytestmark = pytest.mark.django_db

PERIOD = date(2026, 10, 1)


def sale(plugin, amount, external_id, *, currency="USD", when=datetime(2026, 10, 15, 12, tzinfo=UTC)):
    entry = services.ledger_record(plugin=plugin, transaction_type="purchase", amount=Decimal(amount),
                                   currency=currency, external_id=external_id)
    RevenueEntry.objects.filter(pk=entry.pk).update(created_at=when)
    return entry


def transfers():
    return LocalGatewayRecord.objects.filter(kind="tr")


def test_one_payout_per_developer_and_currency_from_unpaid_shares(developer):
    plugin = paid_plugin(developer=developer)
    other_plugin = paid_plugin(developer=developer)
    for i in range(3):
        sale(plugin, "20.00", f"pi_a{i}")
    sale(other_plugin, "15.00", "pi_b")
    sale(plugin, "5000", "pi_jpy", currency="JPY")

    counts = services.payouts_run(period=PERIOD)

    assert counts == {"created": 2, "paid": 2, "failed": 0, "skipped": 0}
    usd = Payout.objects.get(developer=developer, currency="USD")
    assert usd.amount == Decimal("52.50")  # 3 x 14.00 + 10.50
    assert usd.status == Payout.Status.PAID and usd.transfer_id.startswith("local_tr_")
    assert usd.destination == "local-acct-1"
    assert Payout.objects.get(developer=developer, currency="JPY").amount == Decimal("3500")
    # Every row is linked to its (paid) payout: that is what "paid out" means.
    assert set(RevenueEntry.objects.values_list("payout__status", flat=True)) == {"paid"}
    record = transfers().get(idempotency_key=usd.idempotency_key)
    assert (record.amount, record.currency, record.reference) == (Decimal("52.50"), "USD", "local-acct-1")


def test_running_the_same_period_again_pays_nothing_more(developer):
    sale(paid_plugin(developer=developer), "50.00", "pi_1")
    services.payouts_run(period=PERIOD)
    again = services.payouts_run(period=PERIOD)
    assert again == {"created": 0, "paid": 0, "failed": 0, "skipped": 0}
    assert transfers().count() == 1 and Payout.objects.count() == 1


def test_below_the_minimum_the_balance_carries_over(developer, settings):
    settings.PAYOUT_MINIMUM = Decimal("25.00")
    plugin = paid_plugin(developer=developer)
    sale(plugin, "20.00", "pi_1")  # share 14.00
    assert services.payouts_run(period=PERIOD)["created"] == 0
    assert RevenueEntry.objects.get().payout is None
    sale(plugin, "20.00", "pi_2", when=datetime(2026, 11, 3, tzinfo=UTC))
    services.payouts_run(period=date(2026, 11, 1))
    payout = Payout.objects.get()
    assert (payout.amount, payout.period_start) == (Decimal("28.00"), date(2026, 11, 1))
    assert payout.entries.count() == 2


def test_rows_after_the_period_wait_for_the_next_one(developer):
    plugin = paid_plugin(developer=developer)
    sale(plugin, "50.00", "pi_oct")
    late = sale(plugin, "50.00", "pi_nov", when=datetime(2026, 11, 1, 0, 0, 1, tzinfo=UTC))
    services.payouts_run(period=PERIOD)
    assert Payout.objects.get().amount == Decimal("35.00")
    late.refresh_from_db()
    assert late.payout is None and late.payment_status == "succeeded"


def test_a_refund_before_the_payout_reduces_it_and_one_after_carries_over(developer):
    plugin = paid_plugin(developer=developer)
    sale(plugin, "50.00", "pi_1")
    sale(plugin, "50.00", "pi_2")
    services.reversal_record(payment_external_id="pi_2", reversal_external_id="re_1", amount=Decimal("50.00"),
                             currency="USD")
    RevenueEntry.objects.filter(external_id="re_1").update(created_at=datetime(2026, 10, 20, tzinfo=UTC))
    services.payouts_run(period=PERIOD)
    assert Payout.objects.get().amount == Decimal("35.00")
    # A refund after the payout is a negative unpaid row: the next payout is smaller by the reversed share.
    services.reversal_record(payment_external_id="pi_1", reversal_external_id="re_2", amount=Decimal("10.00"),
                             currency="USD")
    sale(plugin, "100.00", "pi_3", when=timezone.now())
    services.payouts_run(period=timezone.localdate().replace(day=1))
    latest = Payout.objects.order_by("-period_start").first()
    assert latest.amount == Decimal("63.00")  # 70.00 - 7.00


def test_developers_without_a_payout_account_carry_over(db):
    plugin = paid_plugin(developer=DeveloperFactory())
    sale(plugin, "100.00", "pi_1")
    assert services.payouts_run(period=PERIOD)["created"] == 0
    assert RevenueEntry.objects.get().payment_status == "succeeded"


class FlakyGateway(LocalGateway):
    """The local gateway made to fail, or to crash the worker right after a transfer. Like an external gateway,
    it makes its transfers one call each, so a crash after one leaves it made."""

    failures = 0
    crash_after_transfer = False

    def transfer_create_many(self, *, requests):
        from revenue.gateways.base import create_each

        return create_each(self, requests)

    def transfer_create(self, **kwargs):
        if FlakyGateway.failures:
            FlakyGateway.failures -= 1
            raise GatewayError("connection reset")
        result = super().transfer_create(**kwargs)
        if FlakyGateway.crash_after_transfer:
            FlakyGateway.crash_after_transfer = False
            raise SystemExit("worker killed after the transfer, before the commit")
        return result


@pytest.fixture
def flaky(settings):
    settings.PAYMENT_GATEWAY = "tests.revenue.test_payouts.FlakyGateway"
    FlakyGateway.failures, FlakyGateway.crash_after_transfer = 0, False
    return FlakyGateway


def test_a_failed_transfer_is_retried_with_backoff_then_paid(developer, flaky):
    sale(paid_plugin(developer=developer), "50.00", "pi_1")
    flaky.failures = 2
    now = timezone.now()
    services.payouts_run(period=PERIOD, now=now)
    payout = Payout.objects.get()
    assert payout.status == "failed" and payout.attempts == 1
    assert payout.next_attempt_at == now + timedelta(minutes=5)
    # Not due yet: nothing happens.
    services.payout_send(payout_id=payout.pk, now=now + timedelta(minutes=1))
    payout.refresh_from_db()
    assert payout.attempts == 1
    services.payout_send(payout_id=payout.pk, now=now + timedelta(minutes=6))
    payout.refresh_from_db()
    assert (payout.status, payout.attempts) == ("failed", 2)
    assert payout.next_attempt_at == now + timedelta(minutes=6) + timedelta(minutes=10)
    services.payouts_run(period=PERIOD, now=now + timedelta(minutes=30))
    payout.refresh_from_db()
    assert (payout.status, payout.attempts) == ("paid", 3)
    assert list(PayoutAttempt.objects.filter(payout=payout).values_list("outcome", flat=True)) == [
        "failed", "failed", "succeeded"]
    assert transfers().count() == 1


def test_a_crash_between_the_transfer_and_the_commit_does_not_pay_twice(developer, flaky):
    sale(paid_plugin(developer=developer), "50.00", "pi_1")
    services.payouts_create(period=PERIOD)
    payout = Payout.objects.get()
    flaky.crash_after_transfer = True
    with pytest.raises(SystemExit):
        services.payout_send(payout_id=payout.pk)
    payout.refresh_from_db()
    assert payout.status == "processing"  # committed before the transfer; the transfer happened
    assert transfers().count() == 1
    # The retry (beat's hourly retry, or the command) finds the transfer instead of making another.
    services.payouts_run(period=PERIOD)
    payout.refresh_from_db()
    assert payout.status == "paid" and payout.transfer_id == transfers().get().id
    assert PayoutAttempt.objects.filter(payout=payout).last().outcome == "found"
    assert transfers().count() == 1


@pytest.mark.django_db(transaction=True)
def test_two_runs_at_once_pay_once(developer):

    if connection.vendor != "postgresql":
        pytest.skip("two concurrent writers need PostgreSQL (SQLite serialises them: 'database is locked')")
    plugins = [paid_plugin(developer=developer) for _ in range(3)]
    for i, plugin in enumerate(plugins):
        sale(plugin, "40.00", f"pi_{i}")
    developer2 = DeveloperFactory()
    from revenue.models import PayoutAccount

    PayoutAccount.objects.create(developer=developer2, gateway="local", account_id="acct-2", payouts_enabled=True)
    sale(paid_plugin(developer=developer2), "90.00", "pi_x")
    errors = []
    barrier = threading.Barrier(2)

    def run():
        try:
            barrier.wait()
            services.payouts_run(period=PERIOD)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    threads = [threading.Thread(target=run) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert not errors
    assert Payout.objects.count() == 2
    assert transfers().count() == 2
    assert sorted(transfers().values_list("amount", flat=True)) == [Decimal("63.00"), Decimal("84.00")]
    assert set(Payout.objects.values_list("status", flat=True)) == {"paid"}


def test_a_reversed_transfer_puts_the_shares_back_to_carry_over(developer):
    sale(paid_plugin(developer=developer), "50.00", "pi_1")
    services.payouts_run(period=PERIOD)
    payout = Payout.objects.get()
    services.payout_transfer_reversed(transfer_id=payout.transfer_id)
    payout.refresh_from_db()
    assert payout.status == "reversed"
    entry = RevenueEntry.objects.get()
    assert entry.payout is None and entry.payment_status == "succeeded"
    # The period is free again: the next run pays the shares once more, with a new payout and key.
    services.payouts_run(period=PERIOD)
    assert Payout.objects.filter(status="paid").count() == 1
    assert transfers().count() == 2


def test_a_payout_still_pending_cannot_be_reversed(developer):
    sale(paid_plugin(developer=developer), "50.00", "pi_1")
    services.payouts_create(period=PERIOD)
    with pytest.raises(services.Conflict):
        services.payout_reverse(payout=Payout.objects.get(), reason="no")


def test_run_payouts_command_is_idempotent(developer):
    sale(paid_plugin(developer=developer), "50.00", "pi_1")
    call_command("run_payouts", "--period", "2026-10")
    call_command("run_payouts", "--period", "2026-10")
    assert Payout.objects.get().status == "paid"
    assert transfers().count() == 1
    with pytest.raises(CommandError, match="YYYY-MM"):
        call_command("run_payouts", "--period", "October")


def test_the_beat_schedule_is_set_up_idempotently():
    from django_celery_beat.models import PeriodicTask

    call_command("setup_schedules")
    call_command("setup_schedules")
    task = PeriodicTask.objects.get(task="revenue.run_payouts")
    assert task.enabled
    assert (task.crontab.minute, task.crontab.hour, task.crontab.day_of_month) == ("0", "6", "1")
    assert PeriodicTask.objects.filter(task__startswith="revenue.").count() == 4


def test_the_beat_task_creates_payouts_and_queues_the_sends(developer, django_capture_on_commit_callbacks):
    from revenue import tasks

    sale(paid_plugin(developer=developer), "50.00", "pi_1")
    with django_capture_on_commit_callbacks(execute=True):
        result = tasks.run_payouts.delay("2026-10").get()
    assert result == {"created": 1, "queued": 1}
    assert Payout.objects.get().status == "paid"


def test_the_developer_is_told_after_the_payout_commits(developer, django_capture_on_commit_callbacks, mailoutbox):
    from developers.models import DeveloperNotice

    sale(paid_plugin(developer=developer), "50.00", "pi_1")
    with django_capture_on_commit_callbacks(execute=True):
        services.payouts_run(period=PERIOD)
    notice = DeveloperNotice.objects.get(developer=developer)
    assert notice.subject == "Payout of 35.00 USD sent"
    assert Payout.objects.get().transfer_id in notice.body


def test_a_payout_not_yet_sent_takes_the_period_rows_recorded_after_it(developer):
    plugin = paid_plugin(developer=developer)
    sale(plugin, "50.00", "pi_1")
    services.payouts_create(period=PERIOD)
    # A payment of the period that committed after the first run (a late webhook): the next run adds it to the
    # payout that has not been sent yet, instead of making a second one.
    late = sale(plugin, "20.00", "pi_late", when=datetime(2026, 10, 31, 23, 59, tzinfo=UTC))
    assert services.payouts_create(period=PERIOD) == 1
    payout = Payout.objects.get()
    assert payout.amount == Decimal("49.00")  # 35.00 + 14.00
    late.refresh_from_db()
    assert late.payout == payout
    services.payouts_run(period=PERIOD)
    assert transfers().get().amount == Decimal("49.00")


def test_a_refund_that_takes_an_unsent_payout_under_the_minimum_withdraws_it(developer, settings):
    settings.PAYOUT_MINIMUM = Decimal("25.00")
    plugin = paid_plugin(developer=developer)
    sale(plugin, "40.00", "pi_1")  # share 28.00
    services.payouts_create(period=PERIOD)
    assert Payout.objects.get().amount == Decimal("28.00")
    services.reversal_record(payment_external_id="pi_1", reversal_external_id="re_1", amount=Decimal("10.00"),
                             currency="USD")
    RevenueEntry.objects.filter(external_id="re_1").update(created_at=datetime(2026, 10, 20, tzinfo=UTC))
    # 28.00 - 7.00 = 21.00 is under the minimum: no payout, both rows carry over, nothing is sent.
    assert services.payouts_run(period=PERIOD) == {"created": 0, "paid": 0, "failed": 0, "skipped": 0}
    assert not Payout.objects.exists() and not transfers().exists()
    assert set(RevenueEntry.objects.values_list("payout", flat=True)) == {None}
    from revenue import selectors

    assert selectors.developer_balance(developer=developer) == [{"currency": "USD", "balance": Decimal("21.00")}]


@pytest.mark.django_db(transaction=True)
def test_a_refund_committed_while_a_run_is_claiming_is_taken_off_its_payout(developer):
    """The run reads the unpaid shares, then claims the rows; a refund that commits in between is claimed too,
    and the payout (and its transfer) is what the claimed rows add up to, not what was read before."""
    if connection.vendor != "postgresql":
        pytest.skip("two concurrent writers need PostgreSQL (SQLite serialises them: 'database is locked')")
    from revenue.models import PayoutAccount

    other = DeveloperFactory()
    PayoutAccount.objects.create(developer=other, gateway="local", account_id="acct-2", payouts_enabled=True)
    sale(paid_plugin(developer=other), "90.00", "pi_x")
    services.payouts_create(period=PERIOD)  # other's payout: made, not sent yet
    held = Payout.objects.get(developer=other)
    sale(paid_plugin(developer=developer), "50.00", "pi_1")
    errors = []

    def run():
        try:
            services.payouts_run(period=PERIOD)
        except Exception as exc:  # surfaced below
            errors.append(exc)
        finally:
            connection.close()

    with transaction.atomic():
        # Hold the other payout: the run reads the shares and inserts its payout, then waits to lock the
        # period's payouts, before it claims any row.
        Payout.objects.select_for_update().get(pk=held.pk)
        runner = threading.Thread(target=run)
        runner.start()
        with connection.cursor() as cursor:
            for _ in range(600):  # up to 30 s on a loaded machine
                # pg_stat_activity is read once per transaction unless its snapshot is cleared.
                cursor.execute("SELECT pg_stat_clear_snapshot()")
                cursor.execute("SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() "
                               "AND wait_event_type = 'Lock' AND pid <> pg_backend_pid()")
                if cursor.fetchone()[0]:
                    break
                time.sleep(0.05)
            else:
                pytest.fail("the run never waited for the held payout")
        services.reversal_record(payment_external_id="pi_1", reversal_external_id="re_1", amount=Decimal("10.00"),
                                 currency="USD")
        RevenueEntry.objects.filter(external_id="re_1").update(created_at=datetime(2026, 10, 20, tzinfo=UTC))
    runner.join(timeout=60)
    assert not errors
    payout = Payout.objects.get(developer=developer)
    assert payout.status == "paid" and payout.amount == Decimal("28.00")  # 35.00 - 7.00
    assert sum(payout.entries.values_list("developer_share", flat=True)) == Decimal("28.00")
    assert sorted(transfers().values_list("amount", flat=True)) == [Decimal("28.00"), Decimal("63.00")]
