"""The JSON API, typed and documented with OpenAPI at /api/v1/openapi.json."""

from ninja import NinjaAPI

api = NinjaAPI(title="tousu 投诉 API", version="1.0.0", urls_namespace="api")
