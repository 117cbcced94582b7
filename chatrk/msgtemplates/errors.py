"""Errors a template action raises, with messages fit to show the user."""

from __future__ import annotations

from collections.abc import Sequence

from chatrk.msgtemplates.lint import LintError


class TemplateError(Exception):
    """A workflow step that is not allowed now; ``field`` points at the form field when there is one."""

    def __init__(self, message: str, *, field: str | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.field = field


class TemplateInvalid(TemplateError):
    """The definition breaks Meta's rules (the lint) or the content policy; ``errors`` are per field."""

    def __init__(self, errors: Sequence[LintError]) -> None:
        super().__init__("The template has problems to fix before it can be saved.")
        self.errors = list(errors)


class ParameterError(TemplateError):
    """The values given for a send do not fit the template: Meta would answer ``code`` (132000, 132012 …)."""

    def __init__(self, message: str, *, code: int = 132000, field: str | None = None) -> None:
        super().__init__(message, field=field)
        self.code = code
