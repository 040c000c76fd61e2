"""The REST API: one NinjaAPI mounted at /api/v1/, each domain app adds its own router."""

from ninja import NinjaAPI

from apiary import __version__
from apiary.core.auth import API_AUTH
from apiary.core.errors import install_handlers

api = NinjaAPI(
    title="Apiary API",
    version=__version__,
    description=(
        "Social CRM and customer community. Authenticate with `Authorization: Bearer <token>` "
        "(create one on your profile page or with POST /api/v1/auth/token) or a browser session "
        '(with CSRF). Errors are `{"detail": ..., "code": ...}` with a 4xx status. Lists take '
        "`limit` (1-200, default 50) and `offset` and answer `{items, count, limit, offset}`."
    ),
    auth=API_AUTH,
    urls_namespace="api",
    docs_url="/docs",
    openapi_url="/openapi.json",
)
install_handlers(api)

api.add_router("/", "apiary.accounts.api.router")
api.add_router("/", "apiary.customers.api.router")
api.add_router("/orders", "apiary.customers.api_orders.router")
api.add_router("/", "apiary.listening.api.router")
api.add_router("/", "apiary.listening.api_insight.router")
api.add_router("/", "apiary.listening.api_map.router")
api.add_router("/", "apiary.listening.api_trends.router")
api.add_router("/", "apiary.community.api.router")
api.add_router("/", "apiary.recognition.api.router")
api.add_router("/", "apiary.moderation.api.router")
api.add_router("/", "apiary.care.api.router")
api.add_router("/alerts", "apiary.alerts.api.router")
