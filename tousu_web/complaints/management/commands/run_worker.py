"""The background worker: deadline sweep and notification delivery, in a loop.

Run any number of them (``manage.py run_worker``), on one machine or several:
every complaint and every notification is claimed with a conditional UPDATE, so
a warning, an escalation or a message happens exactly once.
"""

import time

from django.core.management.base import BaseCommand

from tousu_web.complaints import notify, services


class Command(BaseCommand):
    help = "期限预警、超期升级与通知发送（后台任务）"

    def add_arguments(self, parser):
        parser.add_argument("--interval", type=float, default=30.0, help="seconds between sweeps")
        parser.add_argument("--once", action="store_true", help="sweep once and exit")

    def handle(self, *args, interval: float, once: bool, **options):
        while True:
            counts = services.sweep_deadlines()
            sent = notify.deliver_pending()
            if counts["warned"] or counts["breached"] or sent:
                self.stdout.write(f"预警 {counts['warned']}，升级 {counts['breached']}，发送 {sent}")
            if once:
                return
            time.sleep(interval)
