from django.apps import AppConfig


class WebConfig(AppConfig):
    name = "chatrk.web"
    label = "web"
    verbose_name = "Web interface"
