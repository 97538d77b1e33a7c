"""The study's report: one self-contained HTML page gathering the analyses."""

from ftprobe.report.html import render_report, write_report

__all__ = ["render_report", "write_report"]
