from django.apps import AppConfig


class MsgTemplatesConfig(AppConfig):
    name = "chatrk.msgtemplates"
    label = "msgtemplates"
    verbose_name = "Message templates"
