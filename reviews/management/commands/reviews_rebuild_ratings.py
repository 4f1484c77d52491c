"""Recompute plugins' ratings aggregates from the reviews table (after bulk imports, deleted accounts, or doubt)."""

from django.core.management.base import BaseCommand, CommandError

from aisquare_plugins.exceptions import NotFound
from reviews import selectors, services


class Command(BaseCommand):
    help = "Recompute Plugin.ratings, rating_average and rating_count from the reviews (default: all reviewed)."

    def add_arguments(self, parser):
        parser.add_argument("--plugin", action="append", dest="plugins", default=[], help="a plugin id (repeatable)")

    def handle(self, *args, plugins, **options):
        plugin_ids = plugins or selectors.reviewed_plugin_ids()
        for plugin_id in plugin_ids:
            try:
                ratings = services.plugin_ratings_rebuild(plugin_id=plugin_id)
            except NotFound as error:
                raise CommandError(error.message)
            self.stdout.write(f"{plugin_id}: {ratings['count']} rating(s), average {ratings['average']}")
        self.stdout.write(self.style.SUCCESS(f"Recomputed {len(plugin_ids)} plugin(s)."))
