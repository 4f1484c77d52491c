"""The runtime app's public surface: the only module of it that other apps may import."""

from runtime.package import (
    Package,
    PackageError,
    check_entries,
    check_main,
    check_paths,
    check_size,
    extract_package,
    load_manifest,
    open_zip,
    read_files,
    read_package,
)

__all__ = [
    "Package",
    "PackageError",
    "check_entries",
    "check_main",
    "check_paths",
    "check_size",
    "extract_package",
    "load_manifest",
    "open_zip",
    "read_files",
    "read_package",
]


def usage_counts(*, plugin_id: str, start, end) -> dict:
    """Billable uses of a plugin in [start, end) for usage-based pricing (added by the revenue app, issue 8).

    A use is a successful run of one of its hooks, functions or event handlers (`plugin_usage` rows with
    resource_type "plugin" and outcome ok). Counted per owner: ("org", org_id) for an organization's installation,
    ("user", user_id) for a personal one.
    """
    from django.db.models import Count

    from runtime.models import Installation, PluginUsage

    rows = list(
        PluginUsage.objects.filter(
            plugin_id=plugin_id, created_at__gte=start, created_at__lt=end, resource_type="plugin",
            outcome=PluginUsage.Outcome.OK,
        ).values("installation_id", "user_id").annotate(uses=Count("id")).order_by()
    )
    orgs = dict(
        Installation.objects.filter(pk__in={r["installation_id"] for r in rows if r["installation_id"]})
        .values_list("pk", "org_id")
    )
    counts: dict = {}
    for row in rows:
        org_id = orgs.get(row["installation_id"])
        owner = ("org", org_id) if org_id else ("user", row["user_id"])
        counts[owner] = counts.get(owner, 0) + row["uses"]
    return counts
