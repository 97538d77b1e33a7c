"""The report's tests: the HTML report is self-contained, escapes user text and renders in
headless Chromium (skipped, saying why, where none is installed). The study it reports on
is made by ``tests/synthetic_study.py``, shared with the analyses' tests.
"""
