"""PostgreSQL rollback: the trigger journal (default; works across the API's own connections),
template-database clones (full resets), and savepoints (only for an API on our own connection)."""

from venom_replay.adapters.postgres.journal import PostgresJournalAdapter
from venom_replay.adapters.postgres.savepoint import PostgresSavepointAdapter
from venom_replay.adapters.postgres.template import PostgresTemplateAdapter

__all__ = ["PostgresJournalAdapter", "PostgresSavepointAdapter", "PostgresTemplateAdapter"]
