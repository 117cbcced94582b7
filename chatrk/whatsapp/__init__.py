"""The edge to Meta's WhatsApp Cloud API: webhook signatures, typed payloads, error codes, Graph client.

Pure code: no models, no database access. Everything Meta sends is parsed here once, into frozen
dataclasses, and everything Chatrk sends to Meta goes out through :mod:`chatrk.whatsapp.client`.
"""
