import pytest
from django.contrib.auth import get_user_model

from tousu_web.complaints.models import Role, StaffProfile

FEE_TEXT = "业务员办的机器，说好费率0.38终身不变，上个月起每笔扣0.6%还加3元，要求退还多扣的手续费"


@pytest.fixture(autouse=True)
def fast_password_hashing(settings):
    settings.PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]


def make_staff(username, role, department="", **extra):
    user = get_user_model().objects.create_user(username, password="pw-for-tests-2026", email=f"{username}@example.com")
    StaffProfile.objects.create(user=user, role=role, department=department, **extra)
    return user


@pytest.fixture
def staff(db):
    """The personas: two finance handlers, a risk handler, a supervisor and a compliance officer."""
    return {
        "finance": make_staff("fin1", Role.HANDLER, "finance"),
        "finance2": make_staff("fin2", Role.HANDLER, "finance"),
        "risk": make_staff("risk1", Role.HANDLER, "risk"),
        "channel": make_staff("chan1", Role.HANDLER, "channel"),
        "supervisor": make_staff("boss", Role.SUPERVISOR),
        "compliance": make_staff("comp", Role.COMPLIANCE, "compliance"),
    }
