"""`python -m sla report ...`: an alias of `python -m crm report ...`, kept for the scripts
and habits that call it.

`python -m sla` needs this file; it is only an entry point and no rule imports it. The
command reads the database, so it lives in crm; this file reaches it by module name at run
time instead of importing it, so the sla package never depends on crm or SQLAlchemy.
"""

import runpy
import sys

if sys.argv[1:2] != ["report"]:
    print(
        "usage: python -m sla report [options] (the same as: python -m crm report)", file=sys.stderr
    )
    sys.exit(2)
runpy.run_module("crm", run_name="__main__", alter_sys=True)
