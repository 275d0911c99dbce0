from django.contrib import admin
from django.urls import include, path

from tousu_web.complaints.api import api

urlpatterns = [
    path("admin/", admin.site.urls),
    path("api/v1/", api.urls),
    path("console/", include("tousu_web.complaints.console")),
    path("", include("tousu_web.complaints.portal")),
]
