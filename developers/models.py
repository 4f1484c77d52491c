"""Developer accounts (the spec's `plugin_developers`)."""

import uuid

from django.conf import settings
from django.db import models


class Developer(models.Model):
    """A person or company that publishes plugins and is paid 70% of their revenue."""

    id = models.UUIDField(primary_key=True, default=uuid.uuid4, editable=False)
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="developer")
    company_name = models.CharField(max_length=255)
    website = models.URLField(max_length=255, blank=True)
    support_email = models.EmailField(max_length=255, blank=True)
    # The payout account at the payment gateway (a Stripe Connect account id such as acct_...).
    payment_account_id = models.CharField(max_length=255, blank=True, db_index=True)
    verified = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "plugin_developers"
        ordering = ["company_name"]

    def __str__(self) -> str:
        return self.company_name
