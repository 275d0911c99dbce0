"""Delivery of the outbox: e-mail through Django's backends, SMS through a pluggable backend, signed webhooks.

Any number of workers may call :func:`deliver_pending` at once. An item is *claimed* before it is
sent, with a conditional UPDATE that only one caller can win (``attempts`` is bumped by every claim,
so it serves as the row's version), and the claim is a lease: while one worker is still delivering,
the item carries ``last_error = "in flight until <time>"`` and every other worker leaves it alone.
The lease only matters if a worker dies mid-delivery; then the item is retried once the lease has
expired (at-least-once: a webhook receiver can drop the repeat by its ``X-Tousu-Delivery`` id).
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
from django.utils import timezone
from django.utils.module_loading import import_string

from tousu.privacy import mask

from .models import Outbox, Webhook

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5
DELIVERY_TIMEOUT = 10  # seconds, for a webhook or an SMTP server that does not answer
LEASE = dt.timedelta(minutes=5)  # far longer than a delivery can take with the timeout above
IN_FLIGHT = "in flight until "


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


def _leased(last_error: str, now: dt.datetime) -> bool:
    """Whether another worker is delivering the item right now (its claim has not expired)."""
    if not last_error.startswith(IN_FLIGHT):
        return False
    try:
        until = dt.datetime.fromisoformat(last_error.removeprefix(IN_FLIGHT))
    except ValueError:
        return False
    return until > now


def deliver_pending(limit: int = 100) -> int:
    """Send what is due, at most ``limit`` items; returns how many were sent. Never raises for a failed send."""
    sent = 0
    pending = Outbox.objects.filter(sent_at__isnull=True, attempts__lt=MAX_ATTEMPTS).order_by("id")
    for item_id, attempts, last_error in pending.values_list("id", "attempts", "last_error")[:limit]:
        now = timezone.now()
        if _leased(last_error, now):
            continue
        lease = IN_FLIGHT + (now + LEASE).isoformat()
        claimed = Outbox.objects.filter(id=item_id, attempts=attempts, sent_at__isnull=True).update(
            attempts=attempts + 1, last_error=lease
        )
        if not claimed:
            continue  # another worker claimed it after we listed it
        unsent = Outbox.objects.filter(id=item_id, sent_at__isnull=True)
        try:
            _deliver(Outbox.objects.get(id=item_id))
        except Exception as e:  # any transport failure is recorded and retried later
            error = mask(f"{type(e).__name__}: {e}")[:500]
            unsent.filter(attempts=attempts + 1).update(last_error=error)  # unless a later claim took over
            log.warning("delivery %s failed, attempt %s of %s: %s", item_id, attempts + 1, MAX_ATTEMPTS, error)
            continue
        unsent.update(sent_at=timezone.now(), last_error="")
        sent += 1
    return sent
