from django.apps import AppConfig


class PolicyConfig(AppConfig):
    name = "chatrk.policy"
    label = "policy"
    verbose_name = "Content policy"
