from django.apps import AppConfig


class DevelopersConfig(AppConfig):
    default_auto_field = 'django.db.models.BigAutoField'
    name = 'developers'

    def ready(self):
        from developers import schema  # noqa: F401  (registers the OpenAPI description of developer tokens)
