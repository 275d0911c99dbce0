from django.contrib import admin
from django.shortcuts import redirect
from django.templatetags.static import static
from django.urls import include, path

from tousu_web.complaints.api import api


def favicon(request):
    """Pages link the icon; a browser that asks for /favicon.ico anyway (admin, raw JSON) is sent to it."""
    return redirect(static("complaints/favicon.svg"), permanent=True)


urlpatterns = [
    path("favicon.ico", favicon),
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("console/", include("tousu_web.complaints.console")),
    path("", include("tousu_web.complaints.portal")),
]

handler400 = "tousu_web.errors.bad_request"
handler403 = "tousu_web.errors.permission_denied"
handler404 = "tousu_web.errors.page_not_found"
handler500 = "tousu_web.errors.server_error"
