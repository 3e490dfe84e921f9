from django.contrib import admin
from django.urls import include, path
from drf_spectacular.views import SpectacularSwaggerView

from chat import health, pages, sign_in
from chat.schema import CachedSchemaView

urlpatterns = [
    path("", pages.chat_page, name="chat-page"),
    path("login/", pages.login, name="chat-login"),
    path("logout/", pages.logout, name="chat-logout"),
    path("healthz", health.healthz, name="healthz"),
    path("readyz", health.readyz, name="readyz"),
    path("admin/login/", sign_in.admin_login, name="admin-login"),  # the admin's own sign-in, throttled
    path("admin/", admin.site.urls),
    path("api/schema/", CachedSchemaView.as_view(), name="schema"),
    path("api/docs/", SpectacularSwaggerView.as_view(url_name="schema"), name="swagger-ui"),
    path("api/v1/", include("chat.urls")),
]

# Under /api/ these answer with problem details; elsewhere with Django's own pages.
handler400 = "chat.errors.bad_request"
handler403 = "chat.errors.permission_denied"
handler404 = "chat.errors.page_not_found"
handler500 = "chat.errors.server_error"
