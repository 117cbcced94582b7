from django.apps import AppConfig


class WhatsAppConfig(AppConfig):
    name = "chatrk.whatsapp"
    label = "whatsapp"
    verbose_name = "WhatsApp Cloud API edge"
