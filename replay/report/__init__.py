"""Reports of one exploration: report.json (the source of the others), report.html, junit.xml and
summary.md."""

from venom_replay.replay.report.json_report import write_reports

__all__ = ["write_reports"]
