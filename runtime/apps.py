from django.apps import AppConfig


class RuntimeConfig(AppConfig):
    default_auto_field = 'django.db.models.BigAutoField'
    name = 'runtime'

    def ready(self):
        # Every host function registered with the Plugin API gateway, and platform events fanned out to plugins.
        from runtime.plugin_api import wiring

        wiring.connect()
