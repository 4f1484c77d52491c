"""The revenue ledger (the spec's `plugin_revenue`): one row per money event, fee and share always adding up."""

import uuid

from django.db import models


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
        PAID_OUT = "paid_out", "Paid out"
        REVERSED = "reversed", "Reversed"
        FAILED = "failed", "Failed"

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    plugin = models.ForeignKey(
        "marketplace.Plugin", on_delete=models.PROTECT, related_name="revenue_entries", db_column="plugin_id"
    )
    developer = models.ForeignKey("developers.Developer", on_delete=models.PROTECT, related_name="revenue_entries")
    transaction_type = models.CharField(max_length=50, choices=TransactionType.choices)
    amount = models.DecimalField(max_digits=10, decimal_places=2)
    currency = models.CharField(max_length=3)
    platform_fee = models.DecimalField(max_digits=10, decimal_places=2)
    developer_share = models.DecimalField(max_digits=10, decimal_places=2)
    payment_status = models.CharField(max_length=50, choices=PaymentStatus.choices, default=PaymentStatus.PENDING)
    period_start = models.DateField(null=True, blank=True)
    period_end = models.DateField(null=True, blank=True)
    # The gateway's id of the money event (payment intent, invoice, refund): one ledger row per event, ever.
    external_id = models.CharField(max_length=255, null=True, blank=True, unique=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        db_table = "plugin_revenue"
        ordering = ["-created_at"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(amount=models.F("platform_fee") + models.F("developer_share")),
                name="revenue_fee_plus_share_is_amount",
            ),
            models.CheckConstraint(condition=models.Q(currency__regex=r"^[A-Z]{3}$"), name="revenue_currency_iso"),
        ]
        indexes = [
            models.Index(fields=["developer", "payment_status", "currency"], name="revenue_payout_idx"),
            models.Index(fields=["plugin", "created_at"], name="revenue_plugin_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.transaction_type} {self.amount} {self.currency} ({self.plugin_id})"
