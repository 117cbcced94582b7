from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "chatrk.core"
    label = "core"
    verbose_name = "Tenancy"
