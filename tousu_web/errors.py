"""Site-wide error pages: JSON with the API's error shape under /api/, Chinese HTML elsewhere."""

from django.http import JsonResponse
from django.shortcuts import render

MESSAGES = {
    400: ("bad_request", "请求有误"),
    403: ("forbidden", "没有权限访问此页面"),
    404: ("not_found", "找不到该页面"),
    500: ("internal_error", "服务器内部错误，请稍后再试"),
}


def _respond(request, status: int):
    code, message = MESSAGES[status]
    if request.path.startswith("/api/"):
        return JsonResponse({"error": {"code": code, "message": message}}, status=status)
    return render(request, "complaints/error.html", {"status": status, "message": message}, status=status)


def bad_request(request, exception=None):
    return _respond(request, 400)


def permission_denied(request, exception=None):
    return _respond(request, 403)


def page_not_found(request, exception=None):
    return _respond(request, 404)


def server_error(request):
    return _respond(request, 500)
