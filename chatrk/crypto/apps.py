from django.apps import AppConfig


class CryptoConfig(AppConfig):
    name = "chatrk.crypto"
    label = "crypto"
    verbose_name = "Keys and encryption"
