"""`python -m sla report ...`. Only the entry point lives here: the database work is in
`crm.report_cli`, so the rules in this package stay pure."""

import sys

from crm.report_cli import main

sys.exit(main())
