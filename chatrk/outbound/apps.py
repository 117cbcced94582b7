from django.apps import AppConfig


class OutboundConfig(AppConfig):
    name = "chatrk.outbound"
    label = "outbound"
    verbose_name = "Outbound"
