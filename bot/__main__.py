"""`python -m bot`: run the support desk bot (long polling)."""

import asyncio
import sys

from bot.app import run_bot
from bot.log_setup import configure_logging
from bot.settings import load_bot_settings
from crm.settings import SettingsError


def main() -> int:
    configure_logging()
    try:
        settings = load_bot_settings()
    except SettingsError as error:
        print(error, file=sys.stderr)
        return 2
    asyncio.run(run_bot(settings))
    return 0


sys.exit(main())
