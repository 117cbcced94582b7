from django.urls import path

from chatrk.api.router import api

urlpatterns = [path("v1/", api.urls)]
