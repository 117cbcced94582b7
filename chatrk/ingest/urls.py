from django.urls import path

from chatrk.ingest.views import whatsapp_webhook

app_name = "ingest"
urlpatterns = [path("webhooks/whatsapp/<str:webhook_key>", whatsapp_webhook, name="whatsapp_webhook")]
