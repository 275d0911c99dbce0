from django.apps import AppConfig
from django.core.management import call_command
from django.db.models.signals import post_migrate


def create_cache_table(using: str = "default", **kwargs) -> None:
    """``migrate`` also makes the database cache's table (rate limits): no deployment can forget it."""
    call_command("createcachetable", database=using, verbosity=0)


class ComplaintsConfig(AppConfig):
    name = "tousu_web.complaints"
    label = "complaints"
    verbose_name = "投诉处理"

    def ready(self) -> None:
        post_migrate.connect(create_cache_table, sender=self)
