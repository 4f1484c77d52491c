"""Payment gateways: the interface (base.py), the local test gateway and Stripe. settings.PAYMENT_GATEWAY picks one."""

from django.conf import settings
from django.utils.module_loading import import_string

from revenue.gateways.base import Gateway, GatewayError


def get_gateway() -> Gateway:
    return import_string(settings.PAYMENT_GATEWAY)()


__all__ = ["Gateway", "GatewayError", "get_gateway"]
