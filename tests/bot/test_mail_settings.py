"""The e-mail channel's settings: all three or none, and URLs the desk can use."""

from __future__ import annotations

import pytest
from pydantic import ValidationError

from bot.settings import BotSettings


def test_the_mail_settings_go_together() -> None:
    base = {"bot_token": "1:x", "support_chat_id": -1001}
    with pytest.raises(ValidationError, match="together"):
        BotSettings(_env_file=None, imap_url="imaps://u:p@h/INBOX", **base)  # type: ignore[call-arg]
    with pytest.raises(ValidationError, match="IMAP_URL must start"):
        BotSettings(
            _env_file=None,  # type: ignore[call-arg]
            imap_url="pop3://u:p@h",
            smtp_url="smtp://h",
            mail_from="s@d.kz",
            **base,
        )
    settings = BotSettings(
        _env_file=None,  # type: ignore[call-arg]
        imap_url="imaps://u:p@h/INBOX",
        smtp_url="smtps://u:p@h",
        mail_from="Support <s@d.kz>",
        **base,
    )
    assert settings.mail_enabled
    assert not BotSettings(_env_file=None, **base).mail_enabled  # type: ignore[call-arg]
