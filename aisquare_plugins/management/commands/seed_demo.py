"""`python manage.py seed_demo`: a believable demo marketplace, idempotent (a second run changes nothing).

Seeding is the one place that writes every app's tables directly, in bulk and with fixed keys: it is demo data, not
a business operation (the import contract names it as the exception).
"""

import hashlib
import io
import json
import random
import zipfile
from datetime import timedelta
from decimal import Decimal
from pathlib import Path

from django.conf import settings
from django.contrib.auth import get_user_model
from django.contrib.auth.models import Group
from django.core.files.base import ContentFile
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from aisquare_plugin_sdk.build import package_files
from aisquare_plugin_sdk.manifest import Version, parse_manifest, validate_manifest
from aisquare_plugins import demo
from developers.models import Developer
from host.models import Membership, Organization
from marketplace import api as marketplace_api
from marketplace.models import Plugin, PluginVersion
from revenue import api as revenue_api
from revenue.models import RevenueEntry
from reviews import api as reviews_api
from reviews.models import Review
from runtime import api as runtime_api
from runtime.models import Installation, PluginUsage

FIXED_ZIP_TIME = (2026, 1, 1, 0, 0, 0)
REVIEW_TEXTS = [
    (5, "Exactly what my class needed", "Set up in minutes and my learners noticed the difference the same week."),
    (4, "Very useful, a few rough edges", "Does the job well. I would love more options for customizing it."),
    (5, "Saves me hours", "I used to do this by hand every Friday. Not anymore."),
    (3, "Good idea, needs polish", "Works, but the settings page is confusing the first time."),
    (4, "Solid and reliable", "No problems in a full term of daily use."),
    (2, "Not for younger learners", "The wording is too advanced for my Year 5 class."),
]


EXAMPLES = Path(settings.BASE_DIR) / "examples"


def build_package(files: dict[str, bytes]) -> bytes:
    """A reproducible zip: fixed timestamps and order, so the same inputs give the same sha256."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name in sorted(files):
            info = zipfile.ZipInfo(name, FIXED_ZIP_TIME)
            info.external_attr = 0o644 << 16
            info.compress_type = zipfile.ZIP_DEFLATED
            archive.writestr(info, files[name])
    return buffer.getvalue()


def example_manifest(plugin_id: str) -> dict | None:
    """The manifest of the SDK's example plugin of that id (examples/<id>), if there is one."""
    path = EXAMPLES / plugin_id / "plugin.json"
    return parse_manifest(path.read_bytes()).data if path.is_file() else None


def package_contents(plugin, manifest: dict) -> dict[str, bytes]:
    """An example plugin ships its real sources; the other demo plugins a small generated module."""
    root = EXAMPLES / plugin.id
    files = {"plugin.py": demo.PLUGIN_SOURCE.format(id=plugin.id, name=plugin.name).encode()}
    if root.is_dir():
        files = {name: (root / name).read_bytes() for name in package_files(root)}
    files["plugin.json"] = json.dumps(manifest, indent=2, sort_keys=True).encode()
    return files


class Command(BaseCommand):
    help = "Create (or refresh) the demo marketplace: users, developers, 40+ plugins, installs, reviews, revenue."

    def handle(self, *args, **options):
        # Every random choice comes from a generator seeded by a fixed key: the same demo every time.
        with transaction.atomic():
            users = self._users()
            developers = self._developers(users)
            self._organizations(users)
            plugins = self._plugins(developers)
            self._installations_usage_reviews(users, plugins)
            self._revenue(plugins)
        self._learner_plugins(users["learner"])
        counts = {
            "users": get_user_model().objects.count(),
            "developers": Developer.objects.count(),
            "plugins": Plugin.objects.count(),
            "versions": PluginVersion.objects.count(),
            "installations": Installation.objects.count(),
            "reviews": Review.objects.count(),
            "ledger rows": RevenueEntry.objects.count(),
        }
        self.stdout.write("Demo marketplace ready: " + ", ".join(f"{v} {k}" for k, v in counts.items()))

    def _users(self):
        User = get_user_model()
        reviewers, _ = Group.objects.get_or_create(name=settings.REVIEW_TEAM_GROUP)
        users = {}
        for username, role, is_staff, first_name in demo.USERS:
            user, created = User.objects.get_or_create(
                username=username,
                defaults={"role": role, "is_staff": is_staff, "first_name": first_name,
                          "email": f"{username}@demo.aisquare.example"},
            )
            if created:
                user.set_password(demo.DEMO_PASSWORD)
                user.save(update_fields=["password"])
            if is_staff:
                user.groups.add(reviewers)
                if not user.is_superuser:
                    user.is_superuser = True  # the demo reviewer may use every part of the review console
                    user.save(update_fields=["is_superuser"])
            users[username] = user
        return users

    def _developers(self, users):
        developers = {}
        for username, (company, website, verified) in demo.DEVELOPERS.items():
            developer, _ = Developer.objects.get_or_create(
                user=users[username],
                defaults={"company_name": company, "website": website, "verified": verified,
                          "support_email": f"support@{website.split('//')[1]}"},
            )
            developers[username] = developer
        return developers

    def _organizations(self, users):
        for name, slug, members in demo.ORGANIZATIONS:
            org, _ = Organization.objects.get_or_create(slug=slug, defaults={"name": name})
            for username, role in members.items():
                Membership.objects.get_or_create(organization=org, user=users[username], defaults={"role": role})

    def _plugins(self, developers):
        now = timezone.now()
        plugins = {}
        for index, (plugin_id, name, category, dev, pricing, tags, scopes, description) in enumerate(demo.PLUGINS):
            developer = developers[dev]
            manifest = example_manifest(plugin_id) or {
                "id": plugin_id, "name": name, "version": "1.0.0", "description": description,
                "author": {"name": developer.company_name}, "category": category, "tags": tags,
                "permissions": [{"scope": s, "reason": f"{name} needs {s} to work."} for s in scopes],
                "minPlatformVersion": "2.0.0", "pricing": pricing,
            }
            manifest.setdefault("documentationUrl", f"https://docs.example.org/{plugin_id}")
            manifest.setdefault("supportUrl", f"https://support.example.org/{plugin_id}")
            checked = validate_manifest(manifest).data
            name, description, category, tags = (checked["name"], checked["description"], checked["category"],
                                                  checked["tags"])
            price = Decimal(checked["pricing"].get("price", "0"))
            rng = random.Random(f"listing-{plugin_id}")
            published = now - timedelta(days=400 - index * 9)
            plugin, _ = Plugin.objects.get_or_create(
                id=plugin_id,
                defaults={
                    "developer": developer, "name": name, "description": description,
                    "author": checked["author"], "category": category, "tags": tags,
                    "pricing": checked["pricing"], "pricing_model": checked["pricing"]["model"], "price": price,
                    "currency": checked["pricing"].get("currency", "USD"),
                    "documentation_url": manifest["documentationUrl"], "support_url": manifest["supportUrl"],
                    "verified": developer.verified, "featured": index % 7 == 0,
                    "downloads": rng.randint(40, 25000), "published_at": published,
                },
            )
            versions = [(checked["version"], checked.get("changelog") or "First release.")]
            if plugin_id in demo.SECOND_VERSIONS:
                versions.append(demo.SECOND_VERSIONS[plugin_id])
            for number, changelog in versions:
                self._version(plugin, {**checked, "version": number, "changelog": changelog}, published)
            # The versions are written directly: the listing's `listed` columns follow them as the catalogue does.
            marketplace_api.listing_state_refresh(plugin=plugin)
            latest = versions[-1][0]
            if plugin.version != latest:
                plugin.version = latest
                plugin.save(update_fields=["version"])
            plugins[plugin_id] = plugin
        return plugins

    def _version(self, plugin, manifest, published):
        data = build_package(package_contents(plugin, manifest))
        sha256 = hashlib.sha256(data).hexdigest()
        if PluginVersion.objects.filter(plugin=plugin, version=manifest["version"]).exists():
            return
        parsed = Version.parse(manifest["version"])
        version = PluginVersion(
            plugin=plugin, version=manifest["version"], version_major=parsed.major,
            version_minor=parsed.minor, version_patch=parsed.patch, sha256=sha256, size=len(data),
            manifest=manifest, status=PluginVersion.Status.APPROVED, changelog=manifest["changelog"],
            min_platform_version=manifest["minPlatformVersion"],
            min_platform_key=Version.parse(manifest["minPlatformVersion"]).as_int(),
            quality_score=80, published_at=published,
        )
        version.package.save(f"{plugin.id}-{manifest['version']}.zip", ContentFile(data), save=False)
        version.save()

    def _installations_usage_reviews(self, users, plugins):
        # The demo login `learner` gets real installations (see _learner_plugins); these rows are history.
        learners = [u for name, u in users.items() if name.startswith("student")] + [users["teacher"]]
        for plugin_id, plugin in list(plugins.items())[:30]:
            rng = random.Random(f"installs-{plugin_id}")
            latest = plugin.versions.filter(status=PluginVersion.Status.APPROVED).first()
            chosen = rng.sample(learners, k=rng.randint(2, 6))
            for position, user in enumerate(chosen):
                installation, created = Installation.objects.get_or_create(
                    plugin=plugin, user=user, org=None,
                    defaults={"version": latest.version, "plugin_version": latest, "status": "active",
                              "permissions": [p["scope"] for p in latest.manifest.get("permissions", [])],
                              "activated_at": timezone.now(), "last_used_at": timezone.now()},
                )
                if created:
                    PluginUsage.objects.create(
                        plugin_id=plugin.id, user=user, installation_id=installation.id, version=latest.version,
                        action="function.hello", resource_type="function", resource_id="hello",
                        metadata={"demo": True, "wall_ms": rng.randint(2, 40)},
                    )
                if position < 3 and plugin.developer.user_id != user.id:
                    rating, title, text = REVIEW_TEXTS[rng.randrange(len(REVIEW_TEXTS))]
                    Review.objects.get_or_create(
                        plugin=plugin, user=user,
                        defaults={"rating": rating, "title": title, "review": text, "version": latest.version,
                                  "verified_purchase": plugin.pricing_model != "free"},
                    )
            reviews_api.plugin_ratings_rebuild(plugin_id=plugin.id)

    def _learner_plugins(self, learner):
        """The demo login's plugins go through the real runtime (install, provision, activate in the sandbox), so
        its dashboard shows their menu items and widgets. Without a sandbox, say so and leave them to the user."""
        if not runtime_api.sandbox_available():
            self.stdout.write("No plugin sandbox on this machine (apt-get install bubblewrap): demo plugins are listed "
                              "but none is installed for 'learner'.")
            return
        for plugin_id in demo.LEARNER_PLUGINS:
            if runtime_api.installations_for_user(user=learner).filter(plugin_id=plugin_id).exists():
                continue
            version = PluginVersion.objects.filter(plugin_id=plugin_id, status=PluginVersion.Status.APPROVED).order_by(
                "-version_major", "-version_minor", "-version_patch").first()
            scopes = [p["scope"] for p in version.manifest.get("permissions", [])]
            installation = runtime_api.installation_install(plugin_version=version, user=learner,
                                                            granted_scopes=scopes)
            # Provision now rather than wait for the queued task (it is idempotent: whichever runs second no-ops).
            installation = runtime_api.installation_provision(installation_id=installation.pk)
            if installation.status == Installation.Status.INSTALLED:
                runtime_api.installation_activate(installation=installation)
            else:
                self.stdout.write(f"{plugin_id} for 'learner': {installation.status} {installation.last_error}".strip())

    def _revenue(self, plugins):
        today = timezone.now().date()
        for plugin in plugins.values():
            if plugin.pricing_model == "free":
                continue
            rng = random.Random(f"revenue-{plugin.id}")
            unit = plugin.price if plugin.price else Decimal("2.50")
            for n in range(rng.randint(3, 12)):
                day = today - timedelta(days=rng.randint(1, 170))
                entry = revenue_api.ledger_record(
                    plugin=plugin, amount=unit, currency=plugin.currency, external_id=f"demo-{plugin.id}-{n}",
                    transaction_type={"one_time": "purchase", "subscription": "subscription"}.get(
                        plugin.pricing_model, "usage"),
                    period_start=day.replace(day=1), period_end=day,
                )
                # Spread the demo's history over the last months, so the revenue charts have something to show.
                RevenueEntry.objects.filter(pk=entry.pk).update(
                    created_at=timezone.make_aware(timezone.datetime.combine(day, timezone.datetime.min.time())))
