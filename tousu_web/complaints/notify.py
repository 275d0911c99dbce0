"""Delivery of the outbox: e-mail through Django's backends, SMS through a pluggable backend, signed webhooks.

Any number of workers may call :func:`deliver_pending` at once. An item is *claimed* before it is
sent, with a conditional UPDATE that only one caller can win: it sets ``claimed_until`` only where
the item is due (``next_attempt_at`` has come) and nobody holds it (``claimed_until`` is empty or
past). The claim is a lease: while one worker is delivering, every other worker leaves the item
alone. It only matters if a worker dies mid-delivery; then the item is retried once the lease has
expired (at-least-once: a webhook receiver can drop the repeat by its ``X-Tousu-Delivery`` id).
A failed delivery is retried later and later (:func:`retry_delay`), up to ``MAX_ATTEMPTS`` in all.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import logging
import time
import urllib.request

from django.conf import settings
from django.core.mail import get_connection, send_mail
from django.db.models import F, Q
from django.utils import timezone
from django.utils.module_loading import import_string

from tousu.privacy import mask

from .models import Outbox, Webhook

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
DELIVERY_TIMEOUT = 10  # seconds, for a webhook or an SMTP server that does not answer
LEASE = dt.timedelta(minutes=5)  # far longer than a delivery can take with the timeout above
RETRY_AFTER = dt.timedelta(minutes=1)  # after the first failure, doubled after each further one
REDACTED = "（此消息含查询码，发送后不再保留）"


class LoggingSmsBackend:
    """The default SMS backend: logs the message (masked) instead of sending it."""

    def send(self, phone: str, message: str) -> None:
        log.info("SMS to %s: %s", mask(phone), mask(message))


def sign(secret: str, timestamp: str, body: str) -> str:
    """HMAC-SHA256 over ``timestamp.body``, hex: the ``X-Tousu-Signature`` header of a webhook."""
    return hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()


def _deliver(item: Outbox) -> None:
    if item.channel == Outbox.Channel.EMAIL:
        timeout = getattr(settings, "EMAIL_TIMEOUT", None) or DELIVERY_TIMEOUT
        send_mail(
            item.subject or "投诉进展",
            item.body,
            settings.DEFAULT_FROM_EMAIL,
            [item.recipient],
            connection=get_connection(timeout=timeout),
        )
    elif item.channel == Outbox.Channel.SMS:
        import_string(settings.TOUSU_SMS_BACKEND)().send(item.recipient, item.body)
    else:
        webhook = Webhook.objects.get(pk=int(item.subject))
        timestamp = str(int(time.time()))
        request = urllib.request.Request(
            item.recipient,
            data=item.body.encode(),
            headers={
                "Content-Type": "application/json; charset=utf-8",
                "User-Agent": "tousu-webhook/1",
                "X-Tousu-Delivery": str(item.pk),
                "X-Tousu-Timestamp": timestamp,
                "X-Tousu-Signature": sign(webhook.secret, timestamp, item.body),
            },
            method="POST",
        )
        # URL set by an administrator; a non-2xx answer raises HTTPError and is retried.
        with urllib.request.urlopen(request, timeout=DELIVERY_TIMEOUT) as response:  # noqa: S310
            response.read()


def retry_delay(attempts: int) -> dt.timedelta:
    """The wait after the ``attempts``-th failed attempt: 1, 2, 4, 8 minutes."""
    return RETRY_AFTER * 2 ** (attempts - 1)


def _due(now: dt.datetime) -> Q:
    """Unsent, not given up, its next attempt has come, and no live claim on it."""
    unclaimed = Q(claimed_until__isnull=True) | Q(claimed_until__lte=now)
    return Q(sent_at__isnull=True, attempts__lt=MAX_ATTEMPTS, next_attempt_at__lte=now) & unclaimed


def deliver_pending(limit: int = 100, *, now: dt.datetime | None = None) -> int:
    """Send what is due, at most ``limit`` items; returns how many were sent. Never raises for a failed send.

    ``now`` fixes the clock (tests); otherwise each item is claimed at the time it is reached, so a slow
    batch never hands out a lease that has already run down.
    """
    clock = timezone.now if now is None else lambda: now
    due = Outbox.objects.filter(_due(clock())).order_by("id").values_list("id", flat=True)[:limit]
    return sum(_deliver_one(item_id, clock) for item_id in due)


def _deliver_one(item_id: int, clock) -> bool:
    """Claim, send and record one item: False if another worker holds it or the delivery failed."""
    claimed_at = clock()
    lease = claimed_at + LEASE
    claim = Outbox.objects.filter(_due(claimed_at), id=item_id)
    if not claim.update(attempts=F("attempts") + 1, claimed_until=lease):
        return False  # another worker claimed it after we listed it
    item = Outbox.objects.get(id=item_id)
    try:
        _deliver(item)
    except Exception as e:  # any transport failure is recorded and retried later
        error = mask(f"{type(e).__name__}: {e}")[:500]
        given_up = {"body": REDACTED} if item.secret and item.attempts >= MAX_ATTEMPTS else {}
        # Matched on our own lease: if it ran out and another worker took the item over, its claim stands.
        Outbox.objects.filter(id=item_id, claimed_until=lease).update(
            claimed_until=None, last_error=error, next_attempt_at=clock() + retry_delay(item.attempts), **given_up
        )
        log.warning("delivery %s failed, attempt %s of %s: %s", item_id, item.attempts, MAX_ATTEMPTS, error)
        return False
    kept = {"body": REDACTED} if item.secret else {}
    Outbox.objects.filter(id=item_id, sent_at__isnull=True).update(
        sent_at=clock(), claimed_until=None, last_error="", **kept
    )
    return True
