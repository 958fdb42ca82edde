"""Each format of the month's report built at once, as `python -m sla report` wrote it
before it streamed: the standard library's JSON, the text and the CSV with their newlines.
The streamed report must give the same bytes."""

from __future__ import annotations

import json
from collections.abc import Callable

from sla import MonthlyReport, report_to_csv, report_to_dict, report_to_text

WHOLE: dict[str, Callable[[MonthlyReport], bytes]] = {
    "json": lambda report: (
        json.dumps(report_to_dict(report), ensure_ascii=False, indent=2) + "\n"
    ).encode(),
    "text": lambda report: (report_to_text(report) + "\n").encode(),
    "csv": lambda report: report_to_csv(report).encode(),
}
