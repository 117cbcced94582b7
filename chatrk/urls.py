from django.urls import include, path

urlpatterns = [
    path("", include("chatrk.ingest.urls")),  # first: the webhook is the busiest route
    path("", include("chatrk.accounts.urls")),
    path("", include("chatrk.web.urls")),
    path("api/", include("chatrk.api.urls")),
    path("", include("chatrk.consent.urls")),
]

handler400 = "chatrk.web.views.bad_request"
handler404 = "chatrk.web.views.not_found"
handler500 = "chatrk.web.views.server_error"
