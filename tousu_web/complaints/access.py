"""Who may see and do what in the staff console: one place, applied once per view.

* :func:`staff_required` lets in only signed-in users with a :class:`StaffProfile`.
* :func:`visible_complaints` is the queryset a user may see: handlers and agents their
  department's complaints and those shared with it, supervisors, compliance and admins all.
* :func:`get_complaint_or_404` is the single way a view loads one complaint; anything the
  user may not see is a 404, exactly like a tracking number that does not exist.
* Login throttling counts failed attempts per client address, and access-code recovery counts
  attempts per tracking number, in the cache (the database: one count for every web process).
"""

from __future__ import annotations

import functools
import hashlib

from django.conf import settings
from django.contrib.auth.views import redirect_to_login
from django.core.cache import cache
from django.db.models import Q
from django.http import Http404
from django.shortcuts import render
from django.utils.cache import add_never_cache_headers

from .models import Complaint, ComplaintShare, Role, StaffProfile

LOGIN_WINDOW = 15 * 60  # seconds
RECOVER_WINDOW = 24 * 3600  # seconds
REVEAL_ROLES = (Role.SUPERVISOR, Role.COMPLIANCE)
EXTENSION_ROLES = (Role.SUPERVISOR, Role.COMPLIANCE)  # the complaint-handling head (services.decide_extension)
EXPORT_ROLES = (Role.SUPERVISOR, Role.COMPLIANCE, Role.ADMIN)


def staff_profile(user) -> StaffProfile | None:
    if user is None or not user.is_authenticated or not user.is_active:
        return None
    try:
        return user.staff
    except StaffProfile.DoesNotExist:
        return None


def forbidden(request, message: str = "您没有权限执行此操作"):
    return render(request, "complaints/console/forbidden.html", {"message": message}, status=403)


def staff_required(view):
    """Sign-in required; a signed-in user without a staff profile gets a 403.

    Console pages carry personal data: nothing is kept in a browser's or proxy's cache.
    """

    @functools.wraps(view)
    def wrapped(request, *args, **kwargs):
        if not request.user.is_authenticated:
            return redirect_to_login(request.get_full_path())
        if staff_profile(request.user) is None:
            return forbidden(request, "工作台仅限投诉处理人员使用")
        response = view(request, *args, **kwargs)
        add_never_cache_headers(response)
        return response

    return wrapped


def visible_complaints(user):
    """The complaints ``user`` may see (none for a user without a staff profile)."""
    profile = staff_profile(user)
    if profile is None:
        return Complaint.objects.none()
    if profile.sees_all:
        return Complaint.objects.all()
    shared = ComplaintShare.objects.filter(department=profile.department).values("complaint_id")
    # A subquery, not a join on shares: a join would repeat a complaint once per share.
    return Complaint.objects.filter(Q(department=profile.department) | Q(pk__in=shared))


def get_complaint_or_404(user, tracking_number: str) -> Complaint:
    complaint = (
        visible_complaints(user)
        .select_related("assignee", "partner", "repeat_of")
        .filter(tracking_number=tracking_number)
        .first()
    )
    if complaint is None:
        raise Http404("找不到该投诉")
    return complaint


def has_role(user, roles) -> bool:
    profile = staff_profile(user)
    return profile is not None and profile.role in roles


def can_reveal(user) -> bool:
    """Supervisors and compliance may see the unmasked text (each time recorded on the complaint)."""
    return has_role(user, REVEAL_ROLES)


def can_decide_extensions(user) -> bool:
    return has_role(user, EXTENSION_ROLES)


def can_export_feedback(user) -> bool:
    return has_role(user, EXPORT_ROLES)


# ---------------------------------------------------------------------------- throttling


def count_attempt(key: str, window: int) -> int:
    """Count one more under ``key`` in its open window, opening a window of ``window`` seconds when there is
    none; returns the count so far. Used by every limit: login failures, recoveries, the API's rate limits.

    Counting comes first: it is the common case, and on the database cache ``add`` costs several statements.
    """
    for _ in range(2):
        try:
            return cache.incr(key)
        except ValueError:  # no open window: open one (if another process just did, add keeps its count)
            cache.add(key, 0, window)
    cache.set(key, 1, window)  # the window expired between add and incr
    return 1


def _login_key(request) -> str:
    return f"login-fail:{request.META.get('REMOTE_ADDR', 'unknown')}"


def login_blocked(request) -> bool:
    """True once ``TOUSU_LOGIN_RATE`` attempts from this address failed within the window."""
    return (cache.get(_login_key(request)) or 0) >= settings.TOUSU_LOGIN_RATE


def record_login_failure(request) -> None:
    count_attempt(_login_key(request), LOGIN_WINDOW)


def recovery_blocked(tracking_number: str) -> bool:
    """Count an access-code recovery for this tracking number; True past ``TOUSU_RECOVER_RATE`` in a day.

    Counted whether or not the number exists or the contact matches, so the answer reveals neither;
    it stops anyone from trying contact after contact, or resetting someone's code again and again.
    """
    key = "recover:" + hashlib.sha256(tracking_number.encode("utf-8", "surrogatepass")).hexdigest()[:32]
    return count_attempt(key, RECOVER_WINDOW) > settings.TOUSU_RECOVER_RATE
