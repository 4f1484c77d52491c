"""The revenue app's public surface: the only module of it that other apps may import."""

from revenue.selectors import entitlement_exists, has_purchased
from revenue.services import pricing_setup

__all__ = ["entitlement_exists", "has_purchased", "pricing_setup"]
