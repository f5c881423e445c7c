"""MySQL/MariaDB rollback: generated row triggers write an undo journal; foreign-key cascades and
TRUNCATE, which fire no triggers, are journalled from the referenced tables and from table copies."""

from venom_replay.adapters.mysql.journal import MySQLJournalAdapter

__all__ = ["MySQLJournalAdapter"]
