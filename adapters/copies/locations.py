"""A database URL taken apart for copying: its identity, its connection URL without our options, and
the URL of a copy in the same form (same scheme, credentials, host and query options)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from urllib.parse import quote, urlsplit, urlunsplit

from venom_replay.adapters.registry import DatabaseIdentity, database_identity, split_options
from venom_replay.proxy.redact import mask_url_password


@dataclass(frozen=True)
class Location:
    url: str
    """As the user wrote it, options included."""
    clean: str
    """Without our query options: what a client connects with."""
    options: dict
    identity: DatabaseIdentity

    @classmethod
    def of(cls, url: str) -> Location:
        clean, options = split_options(url)
        return cls(url, clean, options, database_identity(url))

    @property
    def shown(self) -> str:
        return mask_url_password(self.url)

    @property
    def query(self) -> str:
        """The URL's query string as written ('' when none): a copy keeps it."""
        return self.url.partition("?")[2]

    @property
    def file_path(self) -> str:
        """SQLite and dir://: the path as written (relative stays relative)."""
        prefix = "sqlite:///" if self.identity.kind == "sqlite" else "dir://"
        return self.clean[len(prefix):] if self.clean.startswith(prefix) else urlsplit(self.clean).path

    def with_database(self, name: str, query: str | None = None) -> str:
        """The URL of database ``name`` on the same server, in this URL's form."""
        base = self.url.partition("?")[0]
        parts = urlsplit(base)
        if self.identity.kind == "sqlite":
            base = "sqlite:///" + name
        elif self.identity.kind == "dir":
            base = "dir://" + name
        else:
            base = urlunsplit(parts._replace(path="/" + quote(name, safe="")))
        query = self.query if query is None else query
        return base + ("?" + query if query else "")


def sibling_path(path: str, new_name: str) -> str:
    """``new_name`` in the folder of ``path``, in the same (relative or absolute) form."""
    return os.path.join(os.path.dirname(path.rstrip("/")), new_name)
