"""WSGI entry point, served by granian (``chatrk web``)."""

import os

from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "chatrk.settings")
application = get_wsgi_application()
