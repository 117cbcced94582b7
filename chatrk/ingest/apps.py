from django.apps import AppConfig


class IngestConfig(AppConfig):
    name = "chatrk.ingest"
    label = "ingest"
    verbose_name = "Inbound webhooks"
