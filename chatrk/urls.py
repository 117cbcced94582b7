from django.urls import include, path

urlpatterns = [
    path("", include("chatrk.accounts.urls")),
    path("", include("chatrk.web.urls")),
    path("api/", include("chatrk.api.urls")),
]
