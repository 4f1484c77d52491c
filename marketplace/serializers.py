"""Parsing of search parameters (shared by the API and the pages) and the JSON shapes of listings."""

from __future__ import annotations

from decimal import Decimal, InvalidOperation

from django.http import QueryDict
from django.urls import reverse

from aisquare_plugin_sdk.manifest import Version
from aisquare_plugins.exceptions import ServiceError
from marketplace.models import Category, Plugin, PluginVersion, PricingModel
from marketplace.selectors import MAX_LIMIT, SORTS, SearchParams

_TRUE, _FALSE = {"true", "1", "yes", "on"}, {"false", "0", "no", "off"}
MAX_OFFSET = 10_000


def _list(data: QueryDict, name: str) -> list[str]:
    values = []
    for raw in data.getlist(name):
        values.extend(part.strip() for part in raw.split(",") if part.strip())
    return values


def _decimal(errors: dict, data: QueryDict, name: str, low: Decimal, high: Decimal) -> Decimal | None:
    raw = (data.get(name) or "").strip()
    if not raw:
        return None
    try:
        value = Decimal(raw)
    except InvalidOperation:
        errors[name] = [f"{raw!r} is not a number."]
        return None
    if not value.is_finite() or not low <= value <= high:
        errors[name] = [f"Must be between {low} and {high}."]
        return None
    return value


def _bool(errors: dict, data: QueryDict, name: str) -> bool | None:
    raw = (data.get(name) or "").strip().lower()
    if not raw:
        return None
    if raw in _TRUE:
        return True
    if raw in _FALSE:
        return False
    errors[name] = ["Must be true or false."]
    return None


def _int(errors: dict, data: QueryDict, name: str, default: int, low: int, high: int) -> int:
    raw = (data.get(name) or "").strip()
    if not raw:
        return default
    if not raw.isdigit() or not low <= int(raw) <= high:
        errors[name] = [f"Must be a whole number from {low} to {high}."]
        return default
    return int(raw)


def parse_search_params(data: QueryDict, *, default_limit: int = 20) -> SearchParams:
    """Turn query parameters into SearchParams, or raise a 400 naming every bad field. `q` is an alias of `query`."""
    errors: dict[str, list[str]] = {}
    query = (data.get("query") or data.get("q") or "").strip()
    if len(query) > 200:
        errors["query"] = ["At most 200 characters."]
    category = (data.get("category") or "").strip() or None
    if category and category not in Category.values:
        errors["category"] = [f"Unknown category; one of {', '.join(Category.values)}."]
    tags = _list(data, "tags")[:10]
    if any(len(tag) > 50 for tag in tags):
        errors["tags"] = ["A tag has at most 50 characters."]
    pricing = _list(data, "pricing")
    if any(value not in PricingModel.values for value in pricing):
        errors["pricing"] = [f"Unknown pricing model; one of {', '.join(PricingModel.values)}."]
    price_min = _decimal(errors, data, "price_min", Decimal(0), Decimal("99999999"))
    price_max = _decimal(errors, data, "price_max", Decimal(0), Decimal("99999999"))
    if price_min is not None and price_max is not None and price_min > price_max:
        errors["price_max"] = ["Must not be below price_min."]
    rating_min = _decimal(errors, data, "rating_min", Decimal(0), Decimal(5))
    compatible_with = (data.get("compatible_with") or "").strip() or None
    if compatible_with:
        try:
            if Version.parse(compatible_with).prerelease:
                raise ValueError
        except ValueError:
            errors["compatible_with"] = [f"{compatible_with!r} is not a platform version such as 2.4.0."]
    sort = (data.get("sort") or "relevance").strip()
    if sort not in SORTS:
        errors["sort"] = [f"Unknown sort; one of {', '.join(SORTS)}."]
    params = SearchParams(
        query=query,
        category=category,
        tags=tuple(tags),
        pricing=tuple(sorted(set(pricing))),
        price_min=price_min,
        price_max=price_max,
        rating_min=rating_min,
        verified=_bool(errors, data, "verified"),
        featured=_bool(errors, data, "featured"),
        compatible_with=compatible_with,
        sort=sort,
        limit=_int(errors, data, "limit", default_limit, 1, MAX_LIMIT),
        offset=_int(errors, data, "offset", 0, 0, MAX_OFFSET),
    )
    if errors:
        name, messages = next(iter(errors.items()))
        raise ServiceError(f"{name}: {messages[0]}", code="invalid", fields=errors)
    return params


def pricing_data(plugin: Plugin) -> dict:
    data = {"model": plugin.pricing_model, "price": str(plugin.price), "currency": plugin.currency}
    for key in ("interval", "unit", "tiers", "trial_days"):
        if key in (plugin.pricing or {}):
            data[key] = plugin.pricing[key]
    return data


def plugin_card(plugin: Plugin, *, installed: bool) -> dict:
    """One search result: the spec's MarketplacePlugin plus `installed` and `compatible` for the current user."""
    return {
        "id": plugin.pk,
        "name": plugin.name,
        "description": plugin.description,
        "author": plugin.author,
        "developer": {"name": plugin.developer.company_name, "verified": plugin.developer.verified},
        "category": plugin.category,
        "tags": plugin.tags,
        "version": getattr(plugin, "latest_version", None) or plugin.version,
        "pricing": pricing_data(plugin),
        "ratings": {"average": float(plugin.rating_average), "count": plugin.rating_count},
        "downloads": plugin.downloads,
        "screenshots": plugin.screenshots,
        "icon": plugin.icon,
        "verified": plugin.verified,
        "featured": plugin.featured,
        "published_at": plugin.published_at.isoformat() if plugin.published_at else None,
        "installed": installed,
        "compatible": getattr(plugin, "compatible_version_id", None) is not None,
        "url": reverse("marketplace:plugin-detail", args=[plugin.pk]),
    }


def version_data(version: PluginVersion) -> dict:
    return {
        "version": version.version,
        "changelog": version.changelog,
        "published_at": version.published_at.isoformat() if version.published_at else None,
        "min_platform_version": version.min_platform_version,
        "max_platform_version": version.max_platform_version or None,
    }
