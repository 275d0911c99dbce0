"""Delivery of the outbox: e-mail through Django's backends, SMS through a pluggable backend, signed webhooks."""

from __future__ import annotations

import hashlib
import hmac
import logging
import time
import urllib.request

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone
from django.utils.module_loading import import_string

from tousu.privacy import mask

from .models import Outbox, Webhook

log = logging.getLogger(__name__)
MAX_ATTEMPTS = 5


class LoggingSmsBackend:
    """The default SMS backend: logs the message (masked) instead of sending it."""

    def send(self, phone: str, message: str) -> None:
        log.info("SMS to %s: %s", mask(phone), mask(message))


def sign(secret: str, timestamp: str, body: str) -> str:
    """HMAC-SHA256 over ``timestamp.body``, hex: the ``X-Tousu-Signature`` header of a webhook."""
    return hmac.new(secret.encode(), f"{timestamp}.{body}".encode(), hashlib.sha256).hexdigest()


def _deliver(item: Outbox) -> None:
    if item.channel == Outbox.Channel.EMAIL:
        send_mail(item.subject or "投诉进展", item.body, settings.DEFAULT_FROM_EMAIL, [item.recipient])
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
                "X-Tousu-Timestamp": timestamp,
                "X-Tousu-Signature": sign(webhook.secret, timestamp, item.body),
            },
            method="POST",
        )
        with urllib.request.urlopen(request, timeout=5) as response:  # noqa: S310 (URL set by an administrator)
            response.read()


def deliver_pending(limit: int = 100) -> int:
    """Send what is due; each item is claimed with a conditional update so two workers never both send it."""
    sent = 0
    pending = Outbox.objects.filter(sent_at__isnull=True, attempts__lt=MAX_ATTEMPTS).order_by("id")[:limit]
    for item_id, attempts in pending.values_list("id", "attempts"):
        with transaction.atomic():
            claimed = Outbox.objects.filter(id=item_id, attempts=attempts, sent_at__isnull=True).update(
                attempts=attempts + 1
            )
        if not claimed:
            continue
        item = Outbox.objects.get(id=item_id)
        try:
            _deliver(item)
        except Exception as e:  # any transport failure is recorded and retried later
            Outbox.objects.filter(id=item_id).update(last_error=mask(str(e))[:500])
            log.warning("delivery %s failed: %s", item_id, mask(str(e)))
            continue
        Outbox.objects.filter(id=item_id).update(sent_at=timezone.now(), last_error="")
        sent += 1
    return sent
