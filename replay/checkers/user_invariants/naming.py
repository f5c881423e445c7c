"""Naming a database: an invariant may read one of the --db databases, by URL or short name (the database name, the SQLite file name)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path
from urllib.parse import unquote, urlsplit

from venom_replay.proxy.errors import ConfigError
from venom_replay.proxy.redact import mask_url_password


def database_names(url: str) -> set[str]:
    """What an invariant may call the database at ``url``: the URL as given to ``--db`` (with or without
    its password, without venom-replay's own options), and its short name: the database name of a
    PostgreSQL or MySQL URL (``postgresql://app@db/shop`` -> ``shop``), the file name of a SQLite URL
    (``sqlite:///data/app.db`` -> ``app.db``). Redis databases are named by URL only."""
    from venom_replay.adapters.registry import split_options

    clean = split_options(url)[0]
    names = {_comparable(clean)}
    parts = urlsplit(clean)
    scheme = parts.scheme.split("+")[0].lower()
    if scheme == "sqlite":
        path = clean[len("sqlite:///"):] if clean.startswith("sqlite:///") else clean[len("sqlite://"):]
        if unquote(path):
            names.add(Path(unquote(path)).name)
    elif scheme in ("postgresql", "postgres", "mysql", "mariadb"):
        name = unquote(parts.path.lstrip("/"))
        if name:
            names.add(name)
    return names


def _comparable(url: str) -> str:
    # A URL written with its password and the same URL with the password masked name one database.
    return mask_url_password(url)


def resolve_database(name: str, urls: Iterable[str], where: str) -> str:
    """The one URL of ``urls`` that ``name`` names; ``where`` (the file and the invariant) leads the
    error when none or several do."""
    from venom_replay.adapters.registry import split_options

    urls = list(urls)
    wanted = _comparable(split_options(name)[0]) if "://" in name else name
    matches = [u for u in urls if wanted in database_names(u)]
    if len(matches) == 1:
        return matches[0]
    given = ", ".join(mask_url_password(u) for u in urls) or "none"
    if not matches:
        raise ConfigError(f"{where}: database {mask_url_password(name)!r} is not one of the --db databases ({given})")
    raise ConfigError(f"{where}: database {name!r} names {len(matches)} of the --db databases ({given}); "
                      "give its whole URL")
