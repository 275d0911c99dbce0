"""Errors raised by the core.

    TousuError                 base of everything the core raises on purpose
    ├── KnowledgeError         a knowledge-base file is missing or invalid
    ├── InputError             a complaint text cannot be classified (empty, too long, not text)
    └── ModelError             the trained model is missing or does not match the knowledge base

Each error carries a stable ``code`` for programs and a Chinese message for people.
"""


class TousuError(Exception):
    code = "tousu_error"

    def __init__(self, message: str, code: str | None = None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code


class KnowledgeError(TousuError):
    code = "knowledge_invalid"


class InputError(TousuError):
    code = "input_invalid"


class ModelError(TousuError):
    code = "model_invalid"
