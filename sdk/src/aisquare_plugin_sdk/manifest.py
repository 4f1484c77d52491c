"""The plugin manifest (`plugin.json`): its schema and the one validator that the runtime, the publishing pipeline
and the CLI all use. Standard library only, so it also runs inside the sandbox and on a plugin author's laptop.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

MANIFEST_NAME = "plugin.json"
MAX_MANIFEST_BYTES = 256 * 1024

# Spec §1 PluginCategory.
CATEGORIES = (
    "assessment", "content", "analytics", "integration", "ui_theme",
    "language", "accessibility", "productivity", "communication", "gamification",
)

# Spec §Security Model, permission_scopes.
SCOPES = (
    "content:read", "content:create", "content:update", "content:delete",
    "users:read", "users:update", "users:message",
    "assessments:read", "assessments:create", "assessments:grade",
    "analytics:read", "analytics:write", "analytics:export",
    "ai:use", "ai:train",
    "system:notifications", "system:webhooks", "system:admin",
)

PRICING_MODELS = ("free", "one_time", "subscription", "usage_based")
SUBSCRIPTION_INTERVALS = ("month", "year")
# ISO 4217 currencies whose minor unit is 0 (no cents).
ZERO_DECIMAL_CURRENCIES = frozenset({"BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF",
                                     "UGX", "VND", "VUV", "XAF", "XOF", "XPF"})

PLUGIN_ID_RE = re.compile(r"^[a-z][a-z0-9]*(?:-[a-z0-9]+)*$")
SEMVER_RE = re.compile(
    r"^(0|[1-9]\d{0,3})\.(0|[1-9]\d{0,3})\.(0|[1-9]\d{0,3})"
    r"(?:-([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?(?:\+([0-9A-Za-z-]+(?:\.[0-9A-Za-z-]+)*))?$"
)
RANGE_PART_RE = re.compile(r"^(\^|~|>=|<=|>|<|=)?\s*(\d+\.\d+\.\d+)$")
MODULE_PATH_RE = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*(?:/[A-Za-z_][A-Za-z0-9_]*)*\.py$")
EMAIL_RE = re.compile(r"^[^@\s]+@[^@\s]+\.[^@\s]+$")
URL_RE = re.compile(r"^https://[^\s/$.?#][^\s]*$", re.IGNORECASE)
ASSET_RE = re.compile(r"^(?!/)(?!.*\.\.)[A-Za-z0-9_./-]+\.(png|jpg|jpeg|svg|webp)$")

KNOWN_KEYS = {
    "id", "name", "version", "description", "author", "category", "tags", "permissions", "dependencies",
    "minPlatformVersion", "maxPlatformVersion", "pricing", "icon", "screenshots", "documentationUrl",
    "supportUrl", "main", "changelog", "$schema",
}


class ManifestError(ValueError):
    """The manifest is invalid. `errors` lists every problem as "field: message"."""

    def __init__(self, errors: list[str]):
        super().__init__("; ".join(errors))
        self.errors = errors


@dataclass(frozen=True)
class Version:
    major: int
    minor: int
    patch: int
    prerelease: tuple = ()

    @classmethod
    def parse(cls, text: str) -> Version:
        match = SEMVER_RE.match(text or "")
        if not match:
            raise ValueError(f"{text!r} is not a semantic version (MAJOR.MINOR.PATCH, each below 10000)")
        pre = tuple(int(p) if p.isdigit() else p for p in match.group(4).split(".")) if match.group(4) else ()
        return cls(int(match.group(1)), int(match.group(2)), int(match.group(3)), pre)

    def key(self) -> tuple:
        # A release sorts after its pre-releases; numeric identifiers sort before alphanumeric ones.
        pre = tuple((0, p, "") if isinstance(p, int) else (1, 0, p) for p in self.prerelease)
        return (self.major, self.minor, self.patch, 0 if self.prerelease else 1, pre)

    def as_int(self) -> int:
        """major*10^8 + minor*10^4 + patch: orders release versions as integers (stored for SQL filtering)."""
        return self.major * 100_000_000 + self.minor * 10_000 + self.patch

    def __lt__(self, other: Version) -> bool:
        return self.key() < other.key()

    def __le__(self, other: Version) -> bool:
        return self.key() <= other.key()

    def __str__(self) -> str:
        text = f"{self.major}.{self.minor}.{self.patch}"
        return text + ("-" + ".".join(str(p) for p in self.prerelease) if self.prerelease else "")


def version_satisfies(version: str, spec: str) -> bool:
    """True when `version` satisfies a range: `^1.2.0`, `~1.2.0`, `>=1.0.0 <2.0.0`, `1.2.3`, or `*`."""
    v = Version.parse(version)
    spec = (spec or "*").strip()
    if spec in ("*", "x", ""):
        return True
    for part in spec.split():
        match = RANGE_PART_RE.match(part)
        if not match:
            raise ValueError(f"{spec!r} is not a version range")
        op, bound = match.group(1) or "=", Version.parse(match.group(2))
        if op == "^":
            upper = (bound.major + 1, 0, 0) if bound.major else (0, bound.minor + 1, 0)
            ok = bound <= v and (v.major, v.minor, v.patch) < upper
        elif op == "~":
            ok = bound <= v and (v.major, v.minor) == (bound.major, bound.minor)
        elif op == ">=":
            ok = bound <= v
        elif op == ">":
            ok = bound < v
        elif op == "<=":
            ok = v <= bound
        elif op == "<":
            ok = v < bound
        else:
            ok = v.key() == bound.key()
        if not ok:
            return False
    return True


@dataclass
class Manifest:
    """A validated manifest, with defaults filled in. `data` is the normalized JSON object."""

    data: dict[str, Any]
    id: str = field(init=False)
    version: Version = field(init=False)

    def __post_init__(self) -> None:
        self.id = self.data["id"]
        self.version = Version.parse(self.data["version"])

    @property
    def main(self) -> str:
        return self.data["main"]

    @property
    def scopes(self) -> list[str]:
        return [p["scope"] for p in self.data["permissions"]]

    @property
    def required_scopes(self) -> list[str]:
        return [p["scope"] for p in self.data["permissions"] if not p.get("optional")]

    @property
    def optional_scopes(self) -> list[str]:
        return [p["scope"] for p in self.data["permissions"] if p.get("optional")]

    @property
    def pricing(self) -> dict[str, Any]:
        return self.data["pricing"]


def _string(errors, data, key, *, required=False, max_length=255, pattern=None, hint=""):
    value = data.get(key)
    if value is None:
        if required:
            errors.append(f"{key}: this field is required")
        return None
    if not isinstance(value, str) or not value.strip():
        errors.append(f"{key}: must be a non-empty string")
        return None
    if len(value) > max_length:
        errors.append(f"{key}: at most {max_length} characters (got {len(value)})")
        return None
    if pattern is not None and not pattern.match(value):
        errors.append(f"{key}: {hint or 'has an invalid format'}")
        return None
    return value


def _check_pricing(errors: list[str], pricing: Any) -> dict[str, Any]:
    if pricing is None:
        return {"model": "free"}
    if not isinstance(pricing, dict):
        errors.append("pricing: must be an object")
        return {"model": "free"}
    model = pricing.get("model")
    if model not in PRICING_MODELS:
        errors.append(f"pricing.model: must be one of {', '.join(PRICING_MODELS)}")
        return {"model": "free"}
    if model == "free":
        if pricing.get("price") not in (None, 0, "0", "0.00"):
            errors.append("pricing.price: a free plugin has no price")
        return {"model": "free"}
    result: dict[str, Any] = {"model": model}
    currency = pricing.get("currency", "USD")
    if not isinstance(currency, str) or not re.fullmatch(r"[A-Z]{3}", currency):
        errors.append("pricing.currency: an ISO 4217 code such as USD")
        return result
    result["currency"] = currency
    places = 0 if currency in ZERO_DECIMAL_CURRENCIES else 2
    if model == "usage_based":
        tiers = pricing.get("tiers")
        if not isinstance(tiers, list) or not tiers or len(tiers) > 20:
            errors.append("pricing.tiers: usage-based pricing needs 1 to 20 tiers")
            return result
        clean, previous = [], 0
        for i, tier in enumerate(tiers):
            if not isinstance(tier, dict):
                errors.append(f"pricing.tiers[{i}]: must be an object with up_to and unit_price")
                continue
            up_to = tier.get("up_to")
            last = i == len(tiers) - 1
            if up_to is None and not last:
                errors.append(f"pricing.tiers[{i}].up_to: only the last tier may be unbounded")
            elif up_to is not None and (not isinstance(up_to, int) or isinstance(up_to, bool) or up_to <= previous):
                errors.append(f"pricing.tiers[{i}].up_to: must be an integer above the previous tier's")
            price = _money(errors, f"pricing.tiers[{i}].unit_price", tier.get("unit_price"), places, allow_zero=True)
            clean.append({"up_to": up_to, "unit_price": price})
            previous = up_to if isinstance(up_to, int) else previous
        result["tiers"] = clean
        return result
    result["price"] = _money(errors, "pricing.price", pricing.get("price"), places)
    if model == "subscription":
        interval = pricing.get("interval", "month")
        if interval not in SUBSCRIPTION_INTERVALS:
            errors.append(f"pricing.interval: must be one of {', '.join(SUBSCRIPTION_INTERVALS)}")
        result["interval"] = interval
    return result


def _money(errors, key, value, places, *, allow_zero=False) -> str | None:
    if isinstance(value, bool) or not isinstance(value, (int, float, str)):
        errors.append(f"{key}: a price is required")
        return None
    try:
        amount = Decimal(str(value))
    except InvalidOperation:
        errors.append(f"{key}: {value!r} is not a number")
        return None
    if not amount.is_finite() or amount < 0 or (amount == 0 and not allow_zero):
        errors.append(f"{key}: must be a positive amount")
        return None
    if amount > Decimal("99999999"):
        errors.append(f"{key}: too large")
        return None
    if -amount.as_tuple().exponent > max(places, 4 if allow_zero else places):
        errors.append(f"{key}: too many decimal places for the currency")
        return None
    return str(amount.quantize(Decimal(1).scaleb(-places)) if not allow_zero else amount)


def validate_manifest(data: Any) -> Manifest:
    """Check a parsed manifest. Returns a Manifest with defaults filled in, or raises ManifestError with every error."""
    if not isinstance(data, dict):
        raise ManifestError(["plugin.json: must be a JSON object"])
    errors: list[str] = []
    unknown = sorted(set(data) - KNOWN_KEYS)
    if unknown:
        errors.append(f"unknown fields: {', '.join(unknown[:10])}")

    plugin_id = _string(errors, data, "id", required=True, max_length=64, pattern=PLUGIN_ID_RE,
                        hint="lowercase letters, digits and single hyphens, starting with a letter (e.g. my-plugin)")
    _string(errors, data, "name", required=True, max_length=100)
    version = _string(errors, data, "version", required=True, max_length=50, pattern=SEMVER_RE,
                      hint="a semantic version such as 1.0.0 (each part below 10000)")
    description = data.get("description", "")
    if not isinstance(description, str) or len(description) > 5000:
        errors.append("description: a string of at most 5000 characters")

    author = data.get("author")
    if not isinstance(author, dict) or not isinstance(author.get("name"), str) or not author["name"].strip():
        errors.append("author.name: this field is required")
    else:
        if set(author) - {"name", "email", "website"}:
            errors.append("author: only name, email and website are allowed")
        if "email" in author and (not isinstance(author["email"], str) or not EMAIL_RE.match(author["email"])):
            errors.append("author.email: not an e-mail address")
        if "website" in author and (not isinstance(author["website"], str) or not URL_RE.match(author["website"])):
            errors.append("author.website: an https:// URL")
        if len(str(author.get("name"))) > 255:
            errors.append("author.name: at most 255 characters")

    if data.get("category") not in CATEGORIES:
        errors.append(f"category: must be one of {', '.join(CATEGORIES)}")

    tags = data.get("tags", [])
    if not isinstance(tags, list) or len(tags) > 20 or not all(
        isinstance(t, str) and re.fullmatch(r"[a-z0-9][a-z0-9-]{0,31}", t) for t in tags
    ):
        errors.append("tags: at most 20 lowercase tags of letters, digits and hyphens (32 characters each)")
        tags = []

    permissions = data.get("permissions", [])
    clean_permissions = []
    if not isinstance(permissions, list) or len(permissions) > len(SCOPES):
        errors.append("permissions: must be a list of {scope, reason, optional?}")
        permissions = []
    seen = set()
    for i, permission in enumerate(permissions):
        if not isinstance(permission, dict) or set(permission) - {"scope", "reason", "optional"}:
            errors.append(f"permissions[{i}]: must be an object with scope, reason and optional")
            continue
        scope, reason = permission.get("scope"), permission.get("reason")
        if scope not in SCOPES:
            errors.append(f"permissions[{i}].scope: unknown scope {str(scope)[:64]!r}")
            continue
        if scope in seen:
            errors.append(f"permissions[{i}].scope: {scope} is listed twice")
            continue
        seen.add(scope)
        if not isinstance(reason, str) or not reason.strip() or len(reason) > 500:
            errors.append(f"permissions[{i}].reason: say why the plugin needs {scope} (at most 500 characters)")
            continue
        optional = permission.get("optional", False)
        if not isinstance(optional, bool):
            errors.append(f"permissions[{i}].optional: true or false")
            continue
        clean_permissions.append({"scope": scope, "reason": reason.strip(), "optional": optional})

    dependencies = data.get("dependencies", [])
    clean_dependencies = []
    if not isinstance(dependencies, list) or len(dependencies) > 20:
        errors.append("dependencies: a list of at most 20 {id, version} objects")
        dependencies = []
    for i, dep in enumerate(dependencies):
        if not isinstance(dep, dict) or not isinstance(dep.get("id"), str) or not PLUGIN_ID_RE.match(dep["id"]):
            errors.append(f"dependencies[{i}]: needs the id of another plugin")
            continue
        if dep["id"] == plugin_id:
            errors.append(f"dependencies[{i}]: a plugin cannot depend on itself")
            continue
        spec = dep.get("version", "*")
        try:
            version_satisfies("0.0.0", spec) if isinstance(spec, str) else None
        except ValueError:
            spec = None
        if not isinstance(spec, str):
            errors.append(f"dependencies[{i}].version: a range such as ^1.2.0, ~1.2.0, >=1.0.0 <2.0.0 or *")
            continue
        clean_dependencies.append({"id": dep["id"], "version": spec})

    min_version = _string(errors, data, "minPlatformVersion", required=True, max_length=50, pattern=SEMVER_RE,
                          hint="a semantic version such as 2.0.0")
    max_version = _string(errors, data, "maxPlatformVersion", max_length=50, pattern=SEMVER_RE,
                          hint="a semantic version such as 3.0.0")
    if min_version and max_version and Version.parse(max_version) < Version.parse(min_version):
        errors.append("maxPlatformVersion: must not be lower than minPlatformVersion")

    pricing = _check_pricing(errors, data.get("pricing"))

    main = data.get("main", "plugin.py")
    if not isinstance(main, str) or len(main) > 200 or not MODULE_PATH_RE.match(main):
        errors.append("main: a relative path to a .py module inside the package, such as plugin.py")
    icon = data.get("icon")
    if icon is not None and (not isinstance(icon, str) or not ASSET_RE.match(icon)):
        errors.append("icon: a relative path to a PNG, JPEG, SVG or WebP image inside the package")
    screenshots = data.get("screenshots", [])
    if not isinstance(screenshots, list) or len(screenshots) > 10 or not all(
        isinstance(s, str) and (ASSET_RE.match(s) or URL_RE.match(s)) for s in screenshots
    ):
        errors.append("screenshots: at most 10 image paths inside the package or https:// URLs")
        screenshots = []
    for key in ("documentationUrl", "supportUrl"):
        _string(errors, data, key, max_length=500, pattern=URL_RE, hint="an https:// URL")
    changelog = data.get("changelog", "")
    if not isinstance(changelog, str) or len(changelog) > 20000:
        errors.append("changelog: a string of at most 20000 characters")

    if errors:
        raise ManifestError(errors)
    normalized = {
        **{k: v for k, v in data.items() if k != "$schema"},
        "description": description,
        "tags": tags,
        "permissions": clean_permissions,
        "dependencies": clean_dependencies,
        "pricing": pricing,
        "main": main,
        "screenshots": screenshots,
    }
    assert version is not None
    return Manifest(normalized)


def parse_manifest(raw: bytes) -> Manifest:
    """Parse plugin.json bytes (UTF-8 JSON, at most MAX_MANIFEST_BYTES) and validate them."""
    if len(raw) > MAX_MANIFEST_BYTES:
        raise ManifestError([f"plugin.json: larger than {MAX_MANIFEST_BYTES // 1024} KiB"])
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:
        raise ManifestError(["plugin.json: not valid UTF-8"]) from None
    try:
        data = json.loads(text, parse_constant=_reject_constant)
    except (ValueError, RecursionError) as exc:
        raise ManifestError([f"plugin.json: not valid JSON ({str(exc)[:120]})"]) from None
    return validate_manifest(data)


def _reject_constant(name: str):
    raise ValueError(f"{name} is not allowed in JSON")
