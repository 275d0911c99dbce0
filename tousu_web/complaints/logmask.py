"""A logging filter that masks personal data in every record, whoever logs it."""

import logging

from tousu.privacy import mask


class MaskPersonalData(logging.Filter):
    def filter(self, record: logging.LogRecord) -> bool:
        try:
            message = record.getMessage()
        except Exception:  # a malformed record is logged as it is rather than lost
            return True
        masked = mask(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True
