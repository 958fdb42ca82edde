"""The one error type of the CRM: a refusal with a code the caller can explain."""

from __future__ import annotations

from typing import Any


class CrmError(Exception):
    """A request the CRM refuses; `code` lets the bot pick a translated reply."""

    def __init__(self, code: str, **params: Any) -> None:
        super().__init__(code, params)
        self.code = code
        self.params = params
