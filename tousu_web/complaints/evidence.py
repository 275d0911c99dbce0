"""Evidence uploads: type checked by content (not by file name), size and count limits, SHA-256 kept."""

from __future__ import annotations

import hashlib

from django.conf import settings
from django.core.files.base import ContentFile
from django.db import transaction

from .models import Complaint, ComplaintEvent, Evidence, Status
from .services import ServiceError, record_event

# Leading bytes of each accepted format; the stored content type comes from here, never from the client.
SIGNATURES = [
    (b"\x89PNG\r\n\x1a\n", "image/png", ".png"),
    (b"\xff\xd8\xff", "image/jpeg", ".jpg"),
    (b"GIF87a", "image/gif", ".gif"),
    (b"GIF89a", "image/gif", ".gif"),
    (b"%PDF-", "application/pdf", ".pdf"),
]


def sniff(head: bytes) -> tuple[str, str] | None:
    for signature, content_type, suffix in SIGNATURES:
        if head.startswith(signature):
            return content_type, suffix
    if head[:4] == b"RIFF" and head[8:12] == b"WEBP":
        return "image/webp", ".webp"
    return None


def _read_limited(upload) -> bytes:
    limit = settings.TOUSU_MAX_UPLOAD_BYTES
    if upload.size is not None and upload.size > limit:
        raise ServiceError("file_too_large", f"文件“{upload.name}”超过 {limit // (1024 * 1024)} MB")
    data = upload.read(limit + 1)
    if len(data) > limit:
        raise ServiceError("file_too_large", f"文件“{upload.name}”超过 {limit // (1024 * 1024)} MB")
    if not data:
        raise ServiceError("file_empty", f"文件“{upload.name}”是空文件")
    return data


def add_evidence(complaint: Complaint, uploads: list, uploaded_by: str) -> list[Evidence]:
    """Check every file first, then store all of them in one transaction: one bad file stores none."""
    if complaint.status == Status.CLOSED:
        raise ServiceError("complaint_closed", "投诉已办结，不能再上传证据；如需补充，请联系客服重新打开", 409)
    if not uploads:
        raise ServiceError("file_missing", "请选择要上传的文件")
    existing = complaint.evidence.count()
    if existing + len(uploads) > settings.TOUSU_MAX_UPLOADS:
        raise ServiceError(
            "too_many_files", f"每件投诉最多上传 {settings.TOUSU_MAX_UPLOADS} 个文件，已有 {existing} 个"
        )
    checked = []
    for upload in uploads:
        data = _read_limited(upload)
        kind = sniff(data[:16])
        if kind is None:
            raise ServiceError(
                "file_type_not_allowed", f"文件“{upload.name}”不是图片或 PDF（仅支持 JPG、PNG、GIF、WEBP、PDF）"
            )
        checked.append((upload.name or "evidence", data, *kind))
    stored = []
    with transaction.atomic():
        for name, data, content_type, suffix in checked:
            digest = hashlib.sha256(data).hexdigest()
            evidence = Evidence(
                complaint=complaint,
                original_name=name[:200],
                content_type=content_type,
                size=len(data),
                sha256=digest,
                uploaded_by=uploaded_by,
            )
            evidence.file.save(f"{digest[:16]}{suffix}", ContentFile(data), save=False)
            evidence.save()
            stored.append(evidence)
        record_event(
            complaint,
            ComplaintEvent.Kind.EVIDENCE,
            label=uploaded_by,
            public=True,
            body="上传证据：" + "、".join(e.original_name for e in stored),
            files=[{"name": e.original_name, "sha256": e.sha256, "size": e.size} for e in stored],
        )
    return stored
