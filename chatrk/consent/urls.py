from django.urls import path

from chatrk.consent import views

app_name = "consent"

urlpatterns = [
    path("optin/<slug:ws>/", views.optin, name="optin"),
    path("w/<slug:ws>/consent/", views.consent_home, name="home"),
    path("w/<slug:ws>/consent/wordings/", views.publish_wording, name="publish_wording"),
    path("w/<slug:ws>/consent/import/", views.import_csv, name="import"),
    path("w/<slug:ws>/consent/settings/", views.change_settings, name="settings"),
    path("w/<slug:ws>/consent/ledger/", views.ledger, name="ledger"),
    path("w/<slug:ws>/consent/ledger/export/", views.export_ledger, name="export_ledger"),
    path(
        "w/<slug:ws>/consent/reviews/<int:consent_review_id>/resolve/",
        views.resolve_review,
        name="resolve_review",
    ),
]
