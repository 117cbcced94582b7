from django.apps import AppConfig


class ConsentConfig(AppConfig):
    name = "chatrk.consent"
    label = "consent"
    verbose_name = "Consent"
