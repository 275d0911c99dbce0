"""Demo data for ``make run``: staff for every role, partners, reply templates, complaints in several states."""

import datetime as dt
import json
import random

from django.conf import settings
from django.contrib.auth import get_user_model
from django.core.management.base import BaseCommand
from django.db import transaction
from django.utils import timezone

from tousu import knowledge
from tousu_web.complaints import services
from tousu_web.complaints.models import Complaint, Partner, ReplyTemplate, Role, StaffProfile

KB = knowledge.default()
DEMO_PASSWORD = "tousu-demo-2026"
STAFF = [
    ("agent", "一线客服", "李", "agent", "customer_service"),
    ("supervisor", "投诉主管", "王", "supervisor", ""),
    ("compliance", "合规专员", "赵", "compliance", "compliance"),
    ("admin", "系统管理员", "陈", "admin", ""),
] + [(f"handler_{d}", f"{KB.department_name(d)}处理人", "张", "handler", d) for d in KB.departments]
PARTNERS = [
    ("星河支付服务有限公司", "周经理", "华东"),
    ("顺达商务代理", "吴先生", "华南"),
    ("惠民收单外包服务部", "郑女士", "西南"),
]
TEMPLATES = [
    ("fee_rate", "费率核实", "您好，已核实您商户的费率执行情况，具体说明如下：……如有疑问请回复。"),
    ("deposit_refund", "押金退还", "您好，经核实您的机具已达到返还条件，押金将于3个工作日内原路退回。"),
    ("settlement", "结算核查", "您好，已联系清算部门核查未到账交易，核查结果：……"),
    ("", "补充材料", "您好，为尽快处理您的投诉，请补充以下材料：商户号、交易明细截图。"),
]
CORPUS = settings.BASE_DIR / "corpus" / "stories"
FALLBACK = [
    "上个月业务员说费率0.38终身不变，现在每笔扣0.6%，还多扣3元，要求退还多扣的手续费。",
    "押金299元说好刷满3万就退，我都刷了5万了，客服一直说在审核，要求退押金。",
    "昨天刷的8000元到现在还没到账，客服说系统延迟，我等着进货啊。",
    "新买的POS机用了一周就开不了机了，要求换新机。",
]


class Command(BaseCommand):
    help = "载入演示数据（员工、渠道方、答复模板、投诉）"

    def handle(self, *args, **options):
        if get_user_model().objects.filter(username="supervisor").exists():
            self.stdout.write("演示数据已存在")
        else:
            with transaction.atomic():
                self._staff()
                partners = self._partners()
                self._templates()
            self._complaints(partners)
        self._print_logins()

    def _staff(self):
        User = get_user_model()
        for username, title, surname, role, department in STAFF:
            user = User.objects.create_user(
                username,
                email=f"{username}@example.com",
                password=DEMO_PASSWORD,
                first_name=title,
                last_name=surname,
                is_staff=role == Role.ADMIN,
                is_superuser=role == Role.ADMIN,
            )
            StaffProfile.objects.create(user=user, role=role, department=department)

    def _partners(self):
        return [Partner.objects.create(name=n, contact_name=c, region=r) for n, c, r in PARTNERS]

    def _templates(self):
        for category, title, body in TEMPLATES:
            ReplyTemplate.objects.create(category=category, title=title, body=body)

    def _texts(self, count: int) -> list[str]:
        texts = []
        for path in sorted(CORPUS.glob("*.jsonl")):
            lines = [json.loads(line)["text"] for line in path.read_text(encoding="utf-8").splitlines() if line]
            texts += lines[:3]
        return (texts or FALLBACK)[:count]

    def _complaints(self, partners):
        rng = random.Random(2026)
        now = timezone.now()
        supervisor = get_user_model().objects.get(username="supervisor")
        for i, text in enumerate(self._texts(40)):
            received = now - dt.timedelta(days=rng.randint(0, 20), hours=rng.randint(0, 23))
            complaint, _ = services.submit(
                text,
                complainant_type=rng.choice(["merchant", "merchant", "consumer"]),
                contact_phone=f"139{rng.randint(10000000, 99999999)}",
                merchant_number=f"8221{rng.randint(10**10, 10**11 - 1)}",
                intake="regulator" if i % 13 == 7 else "portal",
                regulator_reference=f"银转〔2026〕{100 + i}号" if i % 13 == 7 else "",
                partner=partners[i % len(partners)] if i % 4 == 0 else None,
                now=received,
            )
            self._advance(complaint, i % 5, supervisor)

    def _advance(self, complaint: Complaint, stage: int, supervisor):
        handler = complaint.assignee or supervisor
        if stage >= 1:
            services.reply(complaint.pk, handler, "您好，您的投诉已收到，我们正在核实，请耐心等待。")
        if stage == 2:
            services.request_info(complaint.pk, handler, "请补充交易明细截图和商户号。")
        if stage >= 3:
            services.propose_resolution(complaint.pk, handler, "经核实，将退还多扣款项，3个工作日内原路退回。")
        if stage >= 4:
            services.respond_to_resolution(complaint.pk, accept=True, comment="可以接受")
            services.close(complaint.pk, handler, "已按方案处理完毕。")
            services.rate(complaint.pk, 4, "处理及时")

    def _print_logins(self):
        self.stdout.write(f"演示账号（密码均为 {DEMO_PASSWORD}）：")
        for username, title, _, _, _ in STAFF:
            self.stdout.write(f"  {username:<28} {title}")
