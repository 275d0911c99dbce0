"""Delivery of the outbox: e-mail, masked SMS logging, signed webhooks to a real HTTP server, retries, no repeats."""

from __future__ import annotations

import datetime as dt
import hmac
import io
import json
import logging
import re
import socket
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from django.contrib.auth import get_user_model
from django.core import mail
from django.db import connection
from django.db.models import F
from django.utils import timezone

from tousu_web.complaints import notify, services
from tousu_web.complaints.logmask import MaskPersonalData
from tousu_web.complaints.models import Outbox, Webhook

from .conftest import FEE_TEXT

PHONE = "13812345678"
FULL_PHONE = re.compile(r"(?<!\d)1[3-9]\d{9}(?!\d)")
WAIT = 10  # seconds: the most any test waits for another thread


class Receiver:
    """A real HTTP server on 127.0.0.1 (a thread) that records every webhook delivery it receives.

    ``status``/``reason`` set the answer; with ``hold_first`` the first request is held open until
    :attr:`release` is set, so a test can act while a delivery is in flight.
    """

    def __init__(self, status: int = 200, reason: str | None = None, hold_first: bool = False):
        self.status, self.reason, self.hold_first = status, reason, hold_first
        self.requests: list[tuple[dict[str, str], bytes]] = []
        self.lock = threading.Lock()
        self.arrived, self.release = threading.Event(), threading.Event()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers.get("Content-Length", 0)))
                with receiver.lock:
                    receiver.requests.append(({k.lower(): v for k, v in self.headers.items()}, body))
                    first = len(receiver.requests) == 1
                if first and receiver.hold_first:
                    receiver.arrived.set()
                    receiver.release.wait(WAIT)
                self.send_response(receiver.status, receiver.reason)
                self.send_header("Content-Length", "0")
                self.end_headers()

            def log_message(self, *args):  # keep the test output quiet
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_port}/tousu-hook"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.05,), daemon=True)

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(WAIT)

    def bodies(self) -> list[str]:
        """The bodies received, in order (a repeat shows up twice)."""
        with self.lock:
            return [body.decode() for _, body in self.requests]


@pytest.fixture
def receiver():
    with Receiver() as r:
        yield r


def handler_user():
    return get_user_model().objects.create(username="fin-notify", first_name="李", email="fin-notify@example.com")


def submit(**kwargs):
    complaint, _ = services.submit(FEE_TEXT, **kwargs)
    return complaint


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/nobody-listens"


# ---------------------------------------------------------------------------- e-mail and SMS


def test_email_goes_through_the_configured_backend(db, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    complaint = submit(contact_email="wang@example.com")
    assert notify.deliver_pending() == 1
    [message] = mail.outbox
    assert message.to == ["wang@example.com"]
    assert complaint.tracking_number in message.subject and complaint.tracking_number in message.body
    item = Outbox.objects.get(channel="email")
    assert item.sent_at is not None and item.attempts == 1 and item.last_error == ""
    assert notify.deliver_pending() == 0 and len(mail.outbox) == 1


class Capture(logging.Handler):
    """Keeps the records exactly as they were emitted, before any root handler's filter touches them."""

    def __init__(self):
        super().__init__(logging.DEBUG)
        self.records: list[logging.LogRecord] = []

    def emit(self, record):
        self.records.append(record)


def test_the_sms_log_line_masks_the_phone_number_at_the_source(db, settings):
    settings.TOUSU_SMS_BACKEND = "tousu_web.complaints.notify.LoggingSmsBackend"
    submit(contact_phone=PHONE)
    logger, capture = logging.getLogger("tousu_web.complaints.notify"), Capture()
    logger.addHandler(capture)
    level = logger.level
    logger.setLevel(logging.INFO)
    try:
        assert notify.deliver_pending() == 1
    finally:
        logger.removeHandler(capture)
        logger.setLevel(level)
    [line] = [r.getMessage() for r in capture.records if r.getMessage().startswith("SMS to")]
    assert line.startswith("SMS to 138****5678: ")
    assert "受理编号" in line
    assert not any(FULL_PHONE.search(r.getMessage()) for r in capture.records)


def test_the_logging_config_masks_a_phone_number_whoever_logs_it():
    console = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    assert any(isinstance(f, MaskPersonalData) for f in console.filters)
    stream = io.StringIO()
    previous = console.setStream(stream)
    try:
        logging.getLogger("some.library").warning("callback to %s failed (%s)", PHONE, "王先生 13912345678")
    finally:
        console.setStream(previous)
    assert "138****5678" in stream.getvalue()
    assert not FULL_PHONE.search(stream.getvalue())


def test_no_log_record_of_a_whole_flow_contains_a_full_phone_number(db, settings, caplog):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.TOUSU_SMS_BACKEND = "tousu_web.complaints.notify.LoggingSmsBackend"
    console = next(h for h in logging.getLogger().handlers if h.get_name() == "console")
    stream = io.StringIO()
    previous = console.setStream(stream)
    caplog.set_level(logging.DEBUG)
    # The failing endpoint puts a phone number in its status line, so it lands in the exception text.
    with Receiver(status=500, reason=f"call {PHONE}") as failing:
        Webhook.objects.create(url=failing.url, secret="s3cret")
        try:
            complaint = submit(contact_phone=PHONE, contact_email="wang@example.com", contact_name="王先生")
            services.reply(complaint.pk, handler_user(), f"请拨打 {PHONE} 联系我们")
            notify.deliver_pending()
        finally:
            console.setStream(previous)
    assert any("SMS to 138****5678" in r.getMessage() for r in caplog.records)
    assert any("failed" in r.getMessage() for r in caplog.records)
    assert [r.getMessage() for r in caplog.records if FULL_PHONE.search(r.getMessage())] == []
    assert "138****5678" in stream.getvalue() and not FULL_PHONE.search(stream.getvalue())
    assert not Outbox.objects.filter(last_error__contains=PHONE).exists()


# ---------------------------------------------------------------------------- webhooks


def test_a_public_change_is_posted_signed_to_the_webhook(db, receiver):
    hook = Webhook.objects.create(url=receiver.url, secret="s3cret")
    complaint = submit()
    services.reply(complaint.pk, handler_user(), "已收到，正在核实")
    assert notify.deliver_pending() == 2
    assert len(receiver.requests) == 2
    events = []
    for headers, raw in receiver.requests:
        body = raw.decode()
        assert headers["content-type"].startswith("application/json")
        timestamp, signature = headers["x-tousu-timestamp"], headers["x-tousu-signature"]
        assert abs(int(timestamp) - time.time()) < 60
        assert hmac.compare_digest(signature, notify.sign(hook.secret, timestamp, body))
        assert not hmac.compare_digest(signature, notify.sign("wrong", timestamp, body))
        payload = json.loads(body)
        assert payload["tracking_number"] == complaint.tracking_number
        events.append(payload["event"])
    assert events == ["submitted", "reply"]
    ids = sorted(int(headers["x-tousu-delivery"]) for headers, _ in receiver.requests)
    assert ids == sorted(Outbox.objects.values_list("pk", flat=True))  # the receiver's key to drop a repeat
    assert not Outbox.objects.filter(sent_at__isnull=True).exists()


def test_a_failing_endpoint_is_retried_later_and_later_and_recorded_without_raising(db):
    with Receiver(status=503, reason="Busy") as server:
        Webhook.objects.create(url=server.url, secret="s3cret")
        submit()
        start = timezone.now()
        assert notify.deliver_pending(now=start) == 0
        item = Outbox.objects.get(channel="webhook")
        assert item.attempts == 1 and item.sent_at is None and "503" in item.last_error
        assert item.claimed_until is None and item.next_attempt_at == start + dt.timedelta(minutes=1)
        assert notify.deliver_pending(now=start + dt.timedelta(seconds=59)) == 0  # not due yet: not tried
        assert len(server.requests) == 1
        second = start + dt.timedelta(minutes=1)
        assert notify.deliver_pending(now=second) == 0
        item.refresh_from_db()
        assert item.attempts == 2 and item.next_attempt_at == second + dt.timedelta(minutes=2)  # the wait doubles
        server.status = 200  # the endpoint recovers: the attempt after the next wait delivers
        assert notify.deliver_pending(now=second + dt.timedelta(minutes=1)) == 0
        assert notify.deliver_pending(now=second + dt.timedelta(minutes=2)) == 1
        item.refresh_from_db()
        assert item.attempts == 3 and item.sent_at is not None and item.last_error == ""
        assert item.claimed_until is None
        assert len(server.requests) == 3


def test_the_wait_between_attempts_doubles():
    assert [notify.retry_delay(n) for n in (1, 2, 3, 4)] == [dt.timedelta(minutes=m) for m in (1, 2, 4, 8)]


def test_an_unreachable_endpoint_is_given_up_after_the_maximum_attempts(db):
    Webhook.objects.create(url=closed_port_url(), secret="s3cret")
    submit()
    now = timezone.now()
    for _ in range(notify.MAX_ATTEMPTS + 2):
        assert notify.deliver_pending(now=now) == 0
        now += dt.timedelta(hours=1)  # every wait is over
    item = Outbox.objects.get(channel="webhook")
    assert item.attempts == notify.MAX_ATTEMPTS and item.sent_at is None
    assert "Connection refused" in item.last_error


# ---------------------------------------------------------------------------- never twice


class ReentrantSms:
    """An SMS backend that, during its first send, lets a 'second worker' run deliver_pending."""

    sent: list[tuple[str, str]] = []
    second_worker_sent: int | None = None

    def send(self, phone: str, message: str) -> None:
        ReentrantSms.sent.append((phone, message))
        if ReentrantSms.second_worker_sent is None:
            ReentrantSms.second_worker_sent = 0  # no third worker inside the second
            ReentrantSms.second_worker_sent = notify.deliver_pending()


def test_an_item_in_flight_is_not_claimed_again_by_another_worker(db, settings):
    settings.TOUSU_SMS_BACKEND = "tests.web.test_notify.ReentrantSms"
    ReentrantSms.sent, ReentrantSms.second_worker_sent = [], None
    complaint = submit(contact_phone=PHONE)
    services.reply(complaint.pk, handler_user(), "已收到")
    assert Outbox.objects.filter(channel="sms").count() == 2
    total = notify.deliver_pending()
    assert ReentrantSms.second_worker_sent == 1  # the second worker sent only the item nobody held
    assert total == 1
    assert len(ReentrantSms.sent) == 2 and len(set(ReentrantSms.sent)) == 2
    assert list(Outbox.objects.values_list("attempts", flat=True)) == [1, 1]


def test_a_claim_left_by_a_dead_worker_is_retried_once_its_lease_expires(db, settings):
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    submit(contact_email="wang@example.com")
    item = Outbox.objects.get()
    now = timezone.now()
    Outbox.objects.filter(pk=item.pk).update(attempts=1, claimed_until=now + dt.timedelta(minutes=1))
    assert notify.deliver_pending(now=now) == 0 and mail.outbox == []
    assert notify.deliver_pending(now=now + dt.timedelta(minutes=1)) == 1 and len(mail.outbox) == 1
    item.refresh_from_db()
    assert item.attempts == 2 and item.sent_at is not None and item.claimed_until is None


def test_a_claim_is_a_conditional_update_that_only_one_caller_wins(db):
    submit(contact_phone=PHONE)
    item = Outbox.objects.get()
    now = timezone.now()
    claim = Outbox.objects.filter(notify._due(now), pk=item.pk)
    assert claim.update(claimed_until=now + notify.LEASE) == 1
    assert claim.update(claimed_until=now + notify.LEASE) == 0  # the same WHERE finds it held
    assert not Outbox.objects.filter(notify._due(now + notify.LEASE - dt.timedelta(seconds=1))).exists()
    assert Outbox.objects.filter(notify._due(now + notify.LEASE)).exists()  # a lease that ran out frees it


def test_a_failure_does_not_overwrite_the_claim_of_a_worker_that_took_over(db, settings):
    """A worker so slow that its lease ran out fails at last: the worker now holding the item keeps it."""
    settings.TOUSU_SMS_BACKEND = "tests.web.test_notify.TakenOverSms"
    submit(contact_phone=PHONE)
    assert notify.deliver_pending() == 0
    item = Outbox.objects.get()
    assert item.claimed_until == TakenOverSms.lease and item.attempts == 2 and item.last_error == ""


class TakenOverSms:
    """While it 'sends', another worker's later claim takes the item over; then the send fails."""

    lease = None

    def send(self, phone: str, message: str) -> None:
        TakenOverSms.lease = timezone.now() + dt.timedelta(minutes=9)
        Outbox.objects.update(attempts=F("attempts") + 1, claimed_until=TakenOverSms.lease)
        raise OSError("短信网关超时")


def test_two_concurrent_deliveries_never_send_an_item_twice(transactional_db):
    if connection.vendor == "sqlite" and connection.settings_dict["NAME"].startswith("file:memorydb"):
        pytest.skip("in-memory SQLite is one connection; test_worker covers concurrent delivery on a SQLite file")
    with Receiver(hold_first=True) as server:
        Webhook.objects.create(url=server.url, secret="s3cret")
        handler = handler_user()
        for i in range(3):
            complaint = submit()
            services.reply(complaint.pk, handler, f"第 {i} 次答复")
        expected = sorted(Outbox.objects.filter(channel="webhook").values_list("body", flat=True))
        assert len(expected) == 6
        counts: dict[str, int] = {}

        def worker(name):
            try:
                counts[name] = notify.deliver_pending()
            finally:
                connection.close()

        first = threading.Thread(target=worker, args=("first",))
        first.start()
        assert server.arrived.wait(WAIT), "the first delivery never reached the server"
        # The first worker is now mid-delivery of its first item; a second worker runs a whole pass.
        second = threading.Thread(target=worker, args=("second",))
        second.start()
        second.join(WAIT)
        server.release.set()
        first.join(WAIT)
        assert not first.is_alive() and not second.is_alive()
    assert sorted(server.bodies()) == expected
    assert counts["first"] + counts["second"] == 6 and counts["second"] == 5
    assert not Outbox.objects.filter(sent_at__isnull=True).exists()
    assert set(Outbox.objects.values_list("attempts", flat=True)) == {1}
