"""Daily roll-ups of plugin usage and installations, so dashboards and metrics never scan raw `plugin_usage` rows.

A day's rows are replaced as a whole by `rollup_day` (runtime/analytics/rollup.py): one row per (day, plugin,
version) plus one row per (day, plugin) with `version = ""` holding the plugin-wide figures (percentiles cannot be
summed from per-version rows, so the plugin-wide row is computed from the raw events too).
"""

from django.db import models


class PluginDailyStats(models.Model):
    """One day (UTC) of one plugin, or of one version of it (`version` empty: every version together).

    Runs are the plugin's hooks, functions and event handlers (`plugin_usage` rows with resource_type "plugin");
    API calls are its Plugin API requests (every other `plugin_usage` row). Installation figures come from
    `installed_plugins`: an installation counts under the version it has now (the table keeps no version history).
    """

    day = models.DateField()
    plugin_id = models.CharField(max_length=255)
    version = models.CharField(max_length=50, blank=True)
    # Installations
    installs = models.PositiveIntegerField(default=0)
    uninstalls = models.PositiveIntegerField(default=0)
    activations = models.PositiveIntegerField(default=0)
    active_installations = models.PositiveIntegerField(default=0)  # installed and not uninstalled at the day's end
    active_users = models.PositiveIntegerField(default=0)  # distinct users with at least one run that day
    # Runs (hooks, functions, event handlers) by outcome
    calls = models.PositiveIntegerField(default=0)
    errors = models.PositiveIntegerField(default=0)  # the plugin's own code raised
    limited = models.PositiveIntegerField(default=0)  # a limit or quota stopped it (timeouts included)
    violations = models.PositiveIntegerField(default=0)  # the sandbox stopped it
    denied = models.PositiveIntegerField(default=0)
    cold_starts = models.PositiveIntegerField(default=0)
    # Plugin API calls by outcome
    api_calls = models.PositiveIntegerField(default=0)
    api_denied = models.PositiveIntegerField(default=0)
    api_limited = models.PositiveIntegerField(default=0)
    api_errors = models.PositiveIntegerField(default=0)
    # Resources of runs (null on a day without runs)
    p50_ms = models.FloatField(null=True, blank=True)
    p95_ms = models.FloatField(null=True, blank=True)
    p95_memory_kb = models.FloatField(null=True, blank=True)
    peak_memory_kb = models.BigIntegerField(null=True, blank=True)
    cpu_seconds = models.FloatField(default=0)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "plugin_daily_stats"
        ordering = ["day", "plugin_id", "version"]
        verbose_name = "plugin daily figures"
        verbose_name_plural = "plugin daily figures (platform overview)"
        constraints = [
            models.UniqueConstraint(fields=["day", "plugin_id", "version"], name="daily_stats_unique"),
        ]
        indexes = [models.Index(fields=["plugin_id", "version", "day"], name="daily_stats_plugin_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.plugin_id} {self.version or '(all versions)'}"

    @property
    def failed(self) -> int:
        return self.errors + self.limited + self.violations + self.denied


class PluginDailyError(models.Model):
    """The most frequent failures of a plugin on one day (top `ANALYTICS_TOP_ERRORS` per plugin and day), grouped by
    version, what ran (`action`), outcome and message. Failures below the top N of their day are not kept."""

    day = models.DateField()
    plugin_id = models.CharField(max_length=255)
    version = models.CharField(max_length=50, blank=True)
    action = models.CharField(max_length=100)
    outcome = models.CharField(max_length=20)
    message = models.CharField(max_length=300, blank=True)
    count = models.PositiveIntegerField()

    class Meta:
        db_table = "plugin_daily_errors"
        ordering = ["day", "plugin_id", "-count"]
        indexes = [models.Index(fields=["plugin_id", "day"], name="daily_errors_plugin_idx")]

    def __str__(self) -> str:
        return f"{self.day} {self.plugin_id} {self.action} {self.message} ×{self.count}"


class RollupDay(models.Model):
    """A day the roll-up has computed. `complete` once the day was over when it ran: catch-up starts after the
    last complete day, and today's partial figures are recomputed on every run."""

    day = models.DateField(unique=True)
    complete = models.BooleanField(default=False)
    computed_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "plugin_rollup_days"
        ordering = ["day"]

    def __str__(self) -> str:
        return f"{self.day} ({'complete' if self.complete else 'partial'})"


class VersionErrorAlert(models.Model):
    """A version whose error rate since release passed the threshold: its developer was told, once."""

    plugin_id = models.CharField(max_length=255)
    version = models.CharField(max_length=50)
    calls = models.PositiveIntegerField()
    failed = models.PositiveIntegerField()
    error_rate = models.FloatField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "plugin_version_error_alerts"
        ordering = ["-created_at"]
        constraints = [models.UniqueConstraint(fields=["plugin_id", "version"], name="version_alert_once")]

    def __str__(self) -> str:
        return f"{self.plugin_id} {self.version}: {self.error_rate:.1%} of {self.calls}"
