"""Checkpoint and restore for the systems behind an API (PostgreSQL, MySQL/MariaDB, SQLite, Redis)."""
