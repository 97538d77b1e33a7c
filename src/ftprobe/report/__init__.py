"""The study's report: one self-contained HTML page gathering the analyses, and
its findings beside the paper's as Markdown."""

from ftprobe.report.html import render_report, write_report
from ftprobe.report.markdown import render_findings, write_findings

__all__ = ["render_findings", "render_report", "write_findings", "write_report"]
