from django.apps import AppConfig


class AccountsConfig(AppConfig):
    name = "chatrk.accounts"
    label = "accounts"
    verbose_name = "Accounts"
