"""The REST API (OpenAPI 3.1): transport only; every operation is scoped to the token's workspace."""

from __future__ import annotations

from ninja import NinjaAPI

api = NinjaAPI(title="Chatrk API", version="1", urls_namespace="api", docs_url=None)
