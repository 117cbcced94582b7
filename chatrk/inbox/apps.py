from django.apps import AppConfig


class InboxConfig(AppConfig):
    name = "chatrk.inbox"
    label = "inbox"
    verbose_name = "Inbox"
