"""The revenue ledger (the spec's `plugin_revenue`): one row per money event, fee and share always adding up."""

import uuid
from decimal import Decimal

from django.conf import settings
from django.db import models

from aisquare_plugins.models import TimestampedModel


class RevenueEntry(models.Model):
    class TransactionType(models.TextChoices):
        PURCHASE = "purchase", "One-time purchase"
        SUBSCRIPTION = "subscription", "Subscription payment"
        USAGE = "usage", "Usage-based charge"
        REFUND = "refund", "Refund"
        DISPUTE = "dispute", "Dispute"
        ADJUSTMENT = "adjustment", "Adjustment"

    class PaymentStatus(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded (unpaid to developer)"
        # Rows paid by a payout keep SUCCEEDED: "paid out" is `payout.status == paid` through the link (see
        # revenue.services.payouts_send). PAID_OUT is kept for rows imported as already paid.
        PAID_OUT = "paid_out", "Paid out"
        REVERSED = "reversed", "Reversed"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    # Indexed by (plugin, created_at) and (developer, created_at) below: their lone FK indexes would only add to
    # what every insert and every payout update writes.
    plugin = models.ForeignKey(
        "marketplace.Plugin", on_delete=models.PROTECT, related_name="revenue_entries", db_column="plugin_id",
        db_index=False,
    )
    developer = models.ForeignKey(
        "developers.Developer", on_delete=models.PROTECT, related_name="revenue_entries", db_index=False
    )
    transaction_type = models.CharField(max_length=50, choices=TransactionType.choices)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3)
    platform_fee = models.DecimalField(max_digits=10, decimal_places=2)
    developer_share = models.DecimalField(max_digits=10, decimal_places=2)
    payment_status = models.CharField(max_length=50, choices=PaymentStatus.choices, default=PaymentStatus.PENDING)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    # The gateway's id of the money event (payment intent, invoice, refund): one ledger row per event, ever.
    # Unique through a constraint (Meta), which on PostgreSQL spares the extra LIKE index of `unique=True`.
    external_id = models.CharField(max_length=255, null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    # The payout that claimed this row's share (set when the payout is created, so no other payout can claim it).
    # Deliberately in no index (not even a partial index's condition): claiming a month's rows then changes no
    # indexed column, and with the table's fillfactor of 50 (migration 0007) PostgreSQL rewrites each row in its
    # own page without touching any index (a HOT update): ~10x cheaper than writing six index entries per row.
    # A payout's rows are found through the developer index: filter(developer_id=..., payout=...).
    payout = models.ForeignKey(
        "revenue.Payout", on_delete=models.PROTECT, null=True, blank=True, related_name="entries", db_index=False,
    )
    # A refund or dispute row points at the payment it reverses.
    reverses = models.ForeignKey(
        "self", on_delete=models.PROTECT, null=True, blank=True, related_name="reversals", db_index=False
    )

    class Meta:
        db_table = "plugin_revenue"
        ordering = ["-created_at"]
        constraints = [
            # fee + share = amount. Written as |amount - fee - share| < 0.001 because SQLite evaluates CHECKs in
            # floating point (0.1 + 0.2 != 0.3 there); with two decimal places on every column the only difference
            # below 0.001 is zero, so on PostgreSQL's exact NUMERIC this is plain equality.
            models.CheckConstraint(
                condition=models.Q(
                    amount__lt=models.F("platform_fee") + models.F("developer_share") + Decimal("0.001"),
                    amount__gt=models.F("platform_fee") + models.F("developer_share") - Decimal("0.001"),
                ),
                name="revenue_fee_plus_share_is_amount",
            ),
            models.CheckConstraint(condition=models.Q(currency__regex=r"^[A-Z]{3}$"), name="revenue_currency_iso"),
            models.UniqueConstraint(fields=["external_id"], name="revenue_external_id_unique"),
        ]
        indexes = [
            # No index mentions payout_id (see the field): the payout run finds unpaid rows by one scan.
            models.Index(fields=["developer", "created_at"], name="revenue_developer_idx"),
            models.Index(fields=["plugin", "created_at"], name="revenue_plugin_idx"),
            models.Index(fields=["reverses"], name="revenue_reverses_idx", condition=models.Q(reverses__isnull=False)),
        ]

    def __str__(self) -> str:
        return f"{self.transaction_type} {self.amount} {self.currency} ({self.plugin_id})"


class FeeOverride(TimestampedModel):
    """A developer's own platform fee rate (e.g. 15% for a partner), instead of settings.PLATFORM_FEE_RATE."""

    developer = models.OneToOneField("developers.Developer", on_delete=models.CASCADE, related_name="fee_override")
    rate = models.DecimalField(max_digits=5, decimal_places=4)
    reason = models.CharField(max_length=255, blank=True)

    class Meta:
        ordering = ["developer"]
        constraints = [
            models.CheckConstraint(condition=models.Q(rate__gte=0, rate__lte=1), name="fee_override_rate_0_1"),
        ]

    def __str__(self) -> str:
        return f"{self.developer_id}: {self.rate}"


class PayoutAccount(TimestampedModel):
    """Where a developer is paid: a Stripe Connect account, or the local gateway's pretend account."""

    developer = models.OneToOneField("developers.Developer", on_delete=models.CASCADE, related_name="payout_account")
    gateway = models.CharField(max_length=50)
    account_id = models.CharField(max_length=255)
    payouts_enabled = models.BooleanField(default=False)

    class Meta:
        ordering = ["developer"]

    def __str__(self) -> str:
        return f"{self.account_id} ({self.gateway})"


class PriceRecord(TimestampedModel):
    """A plugin's price as set up at the gateway (spec `_setup_payment_processing`): product + price ids.

    A price change makes a new record; existing subscribers move to it only after notice (`Subscription.pending_price`).
    """

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    plugin = models.ForeignKey("marketplace.Plugin", on_delete=models.PROTECT, related_name="price_records")
    model = models.CharField(max_length=20)
    amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    currency = models.CharField(max_length=3)
    interval = models.CharField(max_length=10, blank=True)
    tiers = models.JSONField(default=list, blank=True)
    gateway = models.CharField(max_length=50)
    product_ref = models.CharField(max_length=255, blank=True)
    price_ref = models.CharField(max_length=255, blank=True)
    current = models.BooleanField(default=True)

    class Meta:
        ordering = ["plugin", "-created_at"]
        constraints = [
            models.UniqueConstraint(fields=["plugin"], condition=models.Q(current=True), name="price_one_current"),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="price_amount_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.plugin_id} {self.model} {self.amount} {self.currency}"


class Purchase(TimestampedModel):
    """A one-time purchase of a plugin by a user, or by an organization admin for the organization."""

    class Status(models.TextChoices):
        PENDING = "pending", "Awaiting payment"
        PAID = "paid", "Paid"
        REFUNDED = "refunded", "Refunded"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    plugin = models.ForeignKey("marketplace.Plugin", on_delete=models.PROTECT, related_name="purchases")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="plugin_purchases")
    org = models.ForeignKey("host.Organization", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    price = models.ForeignKey(PriceRecord, on_delete=models.PROTECT, related_name="purchases")
    amount = models.DecimalField(max_digits=12, decimal_places=2)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    # The gateway's payment (PaymentIntent id); the ledger row carries the same id as its external_id.
    external_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    checkout_url = models.URLField(max_length=2000, blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["plugin", "user"], condition=models.Q(org__isnull=True, status__in=["pending", "paid"]),
                name="purchase_one_live_per_user",
            ),
            models.UniqueConstraint(
                fields=["plugin", "org"], condition=models.Q(org__isnull=False, status__in=["pending", "paid"]),
                name="purchase_one_live_per_org",
            ),
            models.CheckConstraint(condition=models.Q(amount__gt=0), name="purchase_amount_positive"),
        ]

    def __str__(self) -> str:
        return f"{self.plugin_id} for {self.org_id or self.user_id} ({self.status})"


class Subscription(TimestampedModel):
    """A recurring entitlement: a fixed price per interval, or metered usage invoiced per period."""

    class Status(models.TextChoices):
        INCOMPLETE = "incomplete", "Awaiting first payment"
        ACTIVE = "active", "Active"
        PAST_DUE = "past_due", "Past due"
        CANCELED = "canceled", "Canceled"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    plugin = models.ForeignKey("marketplace.Plugin", on_delete=models.PROTECT, related_name="subscriptions")
    user = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="plugin_subscriptions")
    org = models.ForeignKey("host.Organization", on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    price = models.ForeignKey(PriceRecord, on_delete=models.PROTECT, related_name="subscriptions")
    metered = models.BooleanField(default=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.INCOMPLETE)
    external_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    checkout_url = models.URLField(max_length=2000, blank=True)
    current_period_start = models.DateTimeField(null=True, blank=True)
    current_period_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    canceled_at = models.DateTimeField(null=True, blank=True)
    # A new price reaches this subscriber only after notice: it applies from pending_price_effective_at, the first
    # renewal at least PRICE_CHANGE_NOTICE_DAYS after the change (revenue.services.pricing_setup), the date the
    # subscriber is told (pending_price_notified_at: told once, whatever retries).
    pending_price = models.ForeignKey(PriceRecord, on_delete=models.PROTECT, null=True, blank=True, related_name="+")
    pending_price_effective_at = models.DateTimeField(null=True, blank=True)
    pending_price_notified_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-created_at"]
        constraints = [
            models.UniqueConstraint(
                fields=["plugin", "user"],
                condition=models.Q(org__isnull=True) & ~models.Q(status="canceled"),
                name="subscription_one_live_per_user",
            ),
            models.UniqueConstraint(
                fields=["plugin", "org"],
                condition=models.Q(org__isnull=False) & ~models.Q(status="canceled"),
                name="subscription_one_live_per_org",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.plugin_id} for {self.org_id or self.user_id} ({self.status})"


class UsageInvoice(TimestampedModel):
    """One period of a metered subscription: counted from plugin_usage, priced by the tiers, charged once."""

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"
        VOID = "void", "Nothing to charge"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="usage_invoices")
    period_start = models.DateField()
    period_end = models.DateField()
    quantity = models.PositiveBigIntegerField(default=0)
    amount = models.DecimalField(max_digits=12, decimal_places=2, default=0)
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    external_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    last_error = models.TextField(blank=True)

    class Meta:
        ordering = ["-period_start"]
        constraints = [
            models.UniqueConstraint(fields=["subscription", "period_start"], name="usage_invoice_once_per_period"),
        ]

    def __str__(self) -> str:
        return f"{self.subscription_id} {self.period_start} {self.amount} {self.currency}"


class Payout(TimestampedModel):
    """One transfer to a developer per currency and period.

    pending → processing → paid | failed (retried with backoff) → reversed. The ledger rows it pays are linked to it
    when it is created; the transfer carries `idempotency_key`, so a retry or a crash after the transfer never pays
    twice. A reversed payout releases its rows (they carry over) and frees the period for a new payout.
    """

    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        PROCESSING = "processing", "Processing"
        PAID = "paid", "Paid"
        FAILED = "failed", "Failed"
        REVERSED = "reversed", "Reversed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    developer = models.ForeignKey("developers.Developer", on_delete=models.PROTECT, related_name="payouts")
    currency = models.CharField(max_length=3)
    period_start = models.DateField()
    period_end = models.DateField()
    amount = models.DecimalField(max_digits=14, decimal_places=2, default=0)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING, db_index=True)
    gateway = models.CharField(max_length=50, blank=True)
    destination = models.CharField(max_length=255, blank=True)
    transfer_id = models.CharField(max_length=255, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    paid_at = models.DateTimeField(null=True, blank=True)
    reversed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        ordering = ["-period_start", "developer"]
        constraints = [
            models.UniqueConstraint(
                fields=["developer", "currency", "period_start"], condition=~models.Q(status="reversed"),
                name="payout_once_per_developer_currency_period",
            ),
            models.CheckConstraint(condition=models.Q(amount__gte=0), name="payout_amount_non_negative"),
        ]

    def __str__(self) -> str:
        return f"{self.developer_id} {self.period_start:%Y-%m} {self.amount} {self.currency} ({self.status})"

    @property
    def idempotency_key(self) -> str:
        return f"payout-{self.id}"


class PayoutAttempt(TimestampedModel):
    """One try at sending a payout's transfer, kept for the record (Saleor's EventDelivery attempts)."""

    class Outcome(models.TextChoices):
        STARTED = "started", "Started"
        SUCCEEDED = "succeeded", "Succeeded"
        FOUND = "found", "Transfer already existed"
        FAILED = "failed", "Failed"

    payout = models.ForeignKey(Payout, on_delete=models.CASCADE, related_name="attempt_rows")
    number = models.PositiveSmallIntegerField()
    outcome = models.CharField(max_length=20, choices=Outcome.choices, default=Outcome.STARTED)
    transfer_id = models.CharField(max_length=255, blank=True)
    error = models.TextField(blank=True)

    class Meta:
        ordering = ["payout", "number"]
        constraints = [models.UniqueConstraint(fields=["payout", "number"], name="payout_attempt_number_unique")]


class LocalGatewayRecord(TimestampedModel):
    """What the local test gateway would have moved (it moves nothing): charges, refunds, transfers, by key."""

    id = models.CharField(primary_key=True, max_length=64)
    kind = models.CharField(max_length=20)
    idempotency_key = models.CharField(max_length=255, unique=True)
    amount = models.DecimalField(max_digits=14, decimal_places=2)
    currency = models.CharField(max_length=3)
    reference = models.CharField(max_length=255, blank=True)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        ordering = ["-created_at"]
