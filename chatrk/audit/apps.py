from django.apps import AppConfig


class AuditConfig(AppConfig):
    name = "chatrk.audit"
    label = "audit"
    verbose_name = "Audit log"
