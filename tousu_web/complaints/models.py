"""Complaints, their append-only event history, evidence, staff and partners.

State changes happen only through ``services`` (one function per change), which
write a :class:`ComplaintEvent` for each; nothing here changes state in ``save()``.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils import timezone

from tousu import knowledge

KB = knowledge.default()
CATEGORY_CHOICES = [(c.id, c.name) for c in KB.categories.values()]
DEPARTMENT_CHOICES = [(d.id, d.name) for d in KB.departments.values()]
CHANNEL_CHOICES = [(c.id, c.name) for c in KB.channels.values()]


class Role(models.TextChoices):
    AGENT = "agent", "一线客服"
    HANDLER = "handler", "部门处理人"
    SUPERVISOR = "supervisor", "投诉主管"
    COMPLIANCE = "compliance", "合规专员"
    ADMIN = "admin", "系统管理员"


class Status(models.TextChoices):
    NEW = "new", "新投诉"
    ASSIGNED = "assigned", "已分派"
    IN_PROGRESS = "in_progress", "处理中"
    AWAITING_COMPLAINANT = "awaiting_complainant", "待投诉人补充"
    RESOLUTION_PROPOSED = "resolution_proposed", "已提出解决方案"
    RESOLVED = "resolved", "投诉人已接受"
    CLOSED = "closed", "已办结"


OPEN_STATUSES = [s for s in Status if s not in (Status.RESOLVED, Status.CLOSED)]


class ComplainantType(models.TextChoices):
    CONSUMER = "consumer", "个人消费者"
    MERCHANT = "merchant", "商户"
    UNKNOWN = "unknown", "未说明"


class Intake(models.TextChoices):
    PORTAL = "portal", "网上投诉"
    API = "api", "系统对接"
    HOTLINE = "hotline", "热线录入"
    REGULATOR = "regulator", "监管转办"


class StaffProfile(models.Model):
    user = models.OneToOneField(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="staff")
    role = models.CharField(max_length=20, choices=Role.choices)
    department = models.CharField(max_length=40, choices=DEPARTMENT_CHOICES, blank=True)
    absent = models.BooleanField("休假/不在岗", default=False)

    class Meta:
        verbose_name = verbose_name_plural = "员工"

    def __str__(self) -> str:
        return f"{self.user.get_full_name() or self.user.username}（{self.get_role_display()}）"

    @property
    def sees_all(self) -> bool:
        return self.role in (Role.SUPERVISOR, Role.COMPLIANCE, Role.ADMIN)


class Partner(models.Model):
    """A channel partner (代理商) that sells machines for the company."""

    name = models.CharField("名称", max_length=100, unique=True)
    contact_name = models.CharField("联系人", max_length=50, blank=True)
    contact_phone = models.CharField("联系电话", max_length=30, blank=True)
    contact_email = models.EmailField("联系邮箱", blank=True)
    region = models.CharField("区域", max_length=50, blank=True)
    active = models.BooleanField("合作中", default=True)

    class Meta:
        verbose_name = verbose_name_plural = "渠道合作方"

    def __str__(self) -> str:
        return self.name


class Complaint(models.Model):
    tracking_number = models.CharField("受理编号", max_length=24, unique=True)
    access_code_hash = models.CharField(max_length=128)
    version = models.PositiveIntegerField(default=1)

    text = models.TextField("投诉内容")
    text_masked = models.TextField("投诉内容（脱敏）")
    complainant_type = models.CharField(max_length=10, choices=ComplainantType.choices, default="unknown")
    contact_name = models.CharField("联系人", max_length=50, blank=True)
    contact_phone = models.CharField("联系电话", max_length=30, blank=True, db_index=True)
    contact_email = models.EmailField("邮箱", blank=True)
    brand_given = models.CharField("所述品牌", max_length=50, blank=True)
    device_model = models.CharField("机具型号", max_length=50, blank=True)
    merchant_number = models.CharField("商户号", max_length=30, blank=True, db_index=True)
    terminal_number = models.CharField("终端号", max_length=30, blank=True, db_index=True)

    intake = models.CharField(max_length=10, choices=Intake.choices, default=Intake.PORTAL)
    regulator_reference = models.CharField("转办文号", max_length=60, blank=True)
    regulator_reply = models.TextField("对监管的回复", blank=True)

    category = models.CharField(max_length=30, choices=CATEGORY_CHOICES)
    predicted_category = models.CharField(max_length=30, choices=CATEGORY_CHOICES)
    confidence = models.FloatField(default=0)
    needs_review = models.BooleanField(default=False)
    channel = models.CharField(max_length=20, choices=CHANNEL_CHOICES, default="unknown")
    brand = models.CharField(max_length=30, default="unknown")
    verdict = models.JSONField("分诊结果", default=dict)

    department = models.CharField("主办部门", max_length=40, choices=DEPARTMENT_CHOICES, db_index=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="complaints"
    )
    partner = models.ForeignKey(Partner, null=True, blank=True, on_delete=models.PROTECT, related_name="complaints")
    repeat_of = models.ForeignKey("self", null=True, blank=True, on_delete=models.PROTECT, related_name="repeats")

    status = models.CharField(max_length=24, choices=Status.choices, default=Status.NEW, db_index=True)
    received_at = models.DateTimeField(db_index=True)
    statutory_due = models.DateTimeField("法定期限", db_index=True)
    statutory_max_due = models.DateTimeField("最长期限", null=True, blank=True)
    statutory_rule = models.CharField(max_length=40)
    deadline_provisional = models.BooleanField(default=False)
    extended = models.BooleanField(default=False)
    first_response_due = models.DateTimeField(null=True, blank=True)
    handover_due = models.DateTimeField(null=True, blank=True)
    resolution_target_due = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    first_response_at = models.DateTimeField(null=True, blank=True)
    resolved_at = models.DateTimeField(null=True, blank=True)
    closed_at = models.DateTimeField(null=True, blank=True)
    warned_at = models.DateTimeField(null=True, blank=True)
    breached_at = models.DateTimeField(null=True, blank=True)
    escalation_level = models.PositiveSmallIntegerField(default=0)

    rating = models.PositiveSmallIntegerField(null=True, blank=True)
    rating_comment = models.TextField(blank=True)

    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = verbose_name_plural = "投诉"
        indexes = [
            models.Index(fields=["department", "status", "statutory_due"]),
            models.Index(fields=["assignee", "status"]),  # each handler's open load, for auto-assignment
            # A queue filtered by status, overdue or awaiting review pages in deadline order and counts in an index:
            # on SQLite each row read walks the verdict's overflow pages, stored before status and deadline.
            models.Index(fields=["status", "statutory_due", "id"]),
            models.Index(
                fields=["statutory_due", "id"], condition=models.Q(needs_review=True), name="complaint_review_due"
            ),
        ]
        ordering = ["statutory_due"]

    def __str__(self) -> str:
        return self.tracking_number

    @property
    def is_open(self) -> bool:
        return self.status in OPEN_STATUSES


class ComplaintShare(models.Model):
    """A department co-handling a complaint, or the channel partner asked to respond."""

    complaint = models.ForeignKey(Complaint, on_delete=models.PROTECT, related_name="shares")
    department = models.CharField(max_length=40, choices=DEPARTMENT_CHOICES)
    reason = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["complaint", "department"], name="one_share_per_department")]
        # A handler's queue asks "which complaints does my department co-handle?"
        indexes = [models.Index(fields=["department", "complaint"], name="share_by_department")]


class AppendOnlyError(Exception):
    pass


class ComplaintEvent(models.Model):
    """One entry of a complaint's audit trail: who, when, what, why. Never changed, never deleted."""

    class Kind(models.TextChoices):
        SUBMITTED = "submitted", "提交投诉"
        CLASSIFIED = "classified", "自动分诊"
        ASSIGNED = "assigned", "分派"
        TRANSFERRED = "transferred", "转办"
        SHARED = "shared", "增加协办"
        NOTE = "note", "内部备注"
        REPLY = "reply", "公开答复"
        INFO_REQUESTED = "info_requested", "请投诉人补充"
        COMPLAINANT_REPLY = "complainant_reply", "投诉人留言"
        EVIDENCE = "evidence", "上传证据"
        PARTNER_REQUESTED = "partner_requested", "请渠道方回应"
        PARTNER_REPLY = "partner_reply", "渠道方回应"
        VISIT = "visit", "上门服务"
        RESOLUTION_PROPOSED = "resolution_proposed", "提出解决方案"
        RESOLUTION_ACCEPTED = "resolution_accepted", "投诉人接受方案"
        RESOLUTION_REJECTED = "resolution_rejected", "投诉人不接受方案"
        CLOSED = "closed", "办结"
        REOPENED = "reopened", "重新打开"
        ESCALATED = "escalated", "升级"
        CATEGORY_CORRECTED = "category_corrected", "更正分类"
        EXTENSION_REQUESTED = "extension_requested", "申请延期"
        EXTENSION_DECIDED = "extension_decided", "延期审批"
        DEADLINE_WARNING = "deadline_warning", "期限预警"
        DEADLINE_BREACHED = "deadline_breached", "超期"
        REGULATOR_REPLY = "regulator_reply", "答复监管"
        RATED = "rated", "满意度评价"
        REPEAT_LINKED = "repeat_linked", "关联重复投诉"
        TEXT_REVEALED = "text_revealed", "查看原文"
        ACCESS_CODE_RESET = "access_code_reset", "重置查询码"
        COMPLAINANT_CORRECTED = "complainant_corrected", "更正投诉人类型"

    complaint = models.ForeignKey(Complaint, on_delete=models.PROTECT, related_name="events")
    kind = models.CharField(max_length=24, choices=Kind.choices)
    actor = models.ForeignKey(settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT)
    actor_label = models.CharField(max_length=50, help_text="投诉人 / 系统 / 渠道方 / 员工姓名")
    public = models.BooleanField(default=False, help_text="投诉人可见")
    body = models.TextField(blank=True)
    data = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)

    class Meta:
        ordering = ["created_at", "id"]
        verbose_name = verbose_name_plural = "处理记录"

    def save(self, *args, **kwargs):
        if self.pk is not None:
            raise AppendOnlyError("处理记录只能追加，不能修改")
        super().save(*args, **kwargs)

    def delete(self, *args, **kwargs):
        raise AppendOnlyError("处理记录不能删除")


class Evidence(models.Model):
    complaint = models.ForeignKey(Complaint, on_delete=models.PROTECT, related_name="evidence")
    file = models.FileField(upload_to="evidence/%Y/%m/")
    original_name = models.CharField(max_length=200)
    content_type = models.CharField(max_length=50)
    size = models.PositiveIntegerField()
    sha256 = models.CharField(max_length=64)
    received_at = models.DateTimeField(auto_now_add=True)
    uploaded_by = models.CharField(max_length=50)

    class Meta:
        verbose_name = verbose_name_plural = "证据"


class TechnicianVisit(models.Model):
    complaint = models.ForeignKey(Complaint, on_delete=models.PROTECT, related_name="visits")
    scheduled_for = models.DateField("预约日期")
    address = models.CharField("地址", max_length=200)
    technician = models.CharField("技术员", max_length=50)
    outcome = models.TextField("结果", blank=True)
    created_at = models.DateTimeField(auto_now_add=True)


class ReplyTemplate(models.Model):
    title = models.CharField("标题", max_length=100)
    category = models.CharField(max_length=30, choices=CATEGORY_CHOICES, blank=True)
    body = models.TextField("内容")

    class Meta:
        verbose_name = verbose_name_plural = "答复模板"

    def __str__(self) -> str:
        return self.title


class ExtensionRequest(models.Model):
    class Decision(models.TextChoices):
        PENDING = "pending", "待审批"
        APPROVED = "approved", "已批准"
        REJECTED = "rejected", "已驳回"

    complaint = models.ForeignKey(Complaint, on_delete=models.PROTECT, related_name="extensions")
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField("延期理由")
    days = models.PositiveSmallIntegerField("延长天数")
    decision = models.CharField(max_length=10, choices=Decision.choices, default=Decision.PENDING)
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)


class CategoryCorrection(models.Model):
    """A handler's correction of the classifier: kept as training feedback for ``tousu train``."""

    complaint = models.ForeignKey(Complaint, on_delete=models.PROTECT, related_name="corrections")
    old_category = models.CharField(max_length=30)
    new_category = models.CharField(max_length=30, choices=CATEGORY_CHOICES)
    new_channel = models.CharField(max_length=20, choices=CHANNEL_CHOICES, blank=True)
    corrected_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    reason = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)


class IdempotencyRecord(models.Model):
    """The first complaint created under a client's Idempotency-Key; a retry returns it instead of a new one."""

    key = models.CharField(max_length=200)
    scope = models.CharField(max_length=100, help_text="integration name, or 'anonymous'")
    request_hash = models.CharField(max_length=64)
    complaint = models.ForeignKey(Complaint, on_delete=models.PROTECT)
    response = models.JSONField(default=dict)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["scope", "key"], name="one_complaint_per_key")]


class IntegrationToken(models.Model):
    """An API token for one integration (hotline, CRM, app), stored hashed, with scopes."""

    name = models.CharField(max_length=100, unique=True)
    token_hash = models.CharField(max_length=64, unique=True)
    scopes = models.JSONField(default=list, help_text='e.g. ["complaints:write", "complaints:read"]')
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = verbose_name_plural = "接口令牌"


class Webhook(models.Model):
    url = models.URLField()
    secret = models.CharField(max_length=100)
    active = models.BooleanField(default=True)

    class Meta:
        verbose_name = verbose_name_plural = "状态回调"


class Outbox(models.Model):
    """A notification to send (e-mail, SMS, webhook); the worker delivers it and records the result.

    ``next_attempt_at`` is when it is due (at once, then later after each failure); ``claimed_until``
    is set by the worker that is delivering it, so that no other worker takes it meanwhile.
    """

    class Channel(models.TextChoices):
        EMAIL = "email", "邮件"
        SMS = "sms", "短信"
        WEBHOOK = "webhook", "回调"

    channel = models.CharField(max_length=10, choices=Channel.choices)
    recipient = models.CharField(max_length=300)
    subject = models.CharField(max_length=200, blank=True)
    body = models.TextField()
    secret = models.BooleanField(default=False, help_text="正文含查询码：发送后（或放弃发送后）不再保留")
    complaint = models.ForeignKey(Complaint, null=True, blank=True, on_delete=models.PROTECT)
    sent_at = models.DateTimeField(null=True, blank=True)
    attempts = models.PositiveSmallIntegerField(default=0)
    next_attempt_at = models.DateTimeField(default=timezone.now)
    claimed_until = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [
            # The worker's list of what is due: unsent items only, however long the history grows.
            models.Index(fields=["next_attempt_at"], condition=models.Q(sent_at__isnull=True), name="outbox_due"),
        ]
