"""Benchmarks: ingest burst, monthly report, live-clock scan (``python -m bench.<name>``).

They print figures and ratios against a baseline measured in the same run on the same
machine, because absolute times on a small shared machine are noise. They are not tests:
nothing here asserts a time.
"""
