"""The use cases stay below the bot: importing them loads no aiogram at all."""

from __future__ import annotations

import subprocess
import sys


def test_use_cases_import_without_aiogram() -> None:
    probe = (
        "import pkgutil, importlib, sys, crm.usecases as u\n"
        "for m in pkgutil.iter_modules(u.__path__):\n"
        "    importlib.import_module(f'crm.usecases.{m.name}')\n"
        "print(sorted(n for n in sys.modules if n.split('.')[0] == 'aiogram'))"
    )
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip() == "[]"
