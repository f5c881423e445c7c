"""One exploration as one library call, for the command line, the demo, reproduction and tests.

The options and their defaults live in ``options.py``.
``load_recording_once`` reads a recording a single time and derives what every later stage needs
from that one read (templates, the recorded exchanges by sequence number, its start state).
``start_for`` matches the start state to the ``--db`` URLs: the databases are explored from it.
``build_checkers`` and ``open_databases`` assemble the oracles and the rollback adapters;
``run_exploration`` ties them together and always closes what it opened.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from contextlib import ExitStack, closing, contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from venom_replay.proxy.config import VenomConfig
from venom_replay.proxy.errors import ConfigError, VenomError
from venom_replay.proxy.infer.model import TemplateSet
from venom_replay.proxy.recording import Exchange, Recording, read_recording

from venom_replay.replay.options import ExploreOptions
from venom_replay.replay.start_state import UNKNOWN_START, StartBinding, StartState, read_start_state


@dataclass(slots=True)
class LoadedRecording:
    """A recording read once, and what the explorer and the checkers derive from it."""

    path: Path
    recording: Recording
    config: VenomConfig
    templates: TemplateSet
    exchanges: dict[int, Exchange] = field(default_factory=dict)
    """The recorded exchanges by sequence number (the confirmation replay compares against them)."""
    start: StartState | None = None
    """The databases' content before the first exchange (``record --db``); None when not recorded."""
    auth: Any = None
    """The ``AuthMapping`` (replay/auth.py) applied to the templates: ``[auth]`` and ``--auth``; None without."""


def load_recording_once(path: str | Path, config: VenomConfig | None = None) -> LoadedRecording:
    from venom_replay.proxy.infer.inference import infer_templates

    config = config if config is not None else VenomConfig()
    recording = read_recording(path)
    tset = infer_templates(recording, config)
    if not tset.source:
        tset.source = str(path)
    loaded = LoadedRecording(Path(path), recording, config, tset, {ex.seq: ex for ex in recording.exchanges},
                             read_start_state(path))
    _map_credentials(loaded)
    return loaded


def _map_credentials(loaded: LoadedRecording) -> None:
    """The recorded identities' requests carry the target's credentials (``[auth]``, ``--auth``)."""
    from venom_replay.replay.auth import apply_mapping, credentials_for, map_identities

    credentials = credentials_for(loaded.config.raw)
    if credentials:
        loaded.auth = map_identities(credentials, loaded.recording.exchanges)
        apply_mapping(loaded.templates, loaded.auth, loaded.recording.exchanges)


def start_for(loaded: LoadedRecording, db_urls: Sequence[str], notes: list[str]) -> StartBinding | None:
    """The recording's start state matched to ``db_urls`` (None: nothing to import); what does not
    fit, or that the start state is unknown, is said once in ``notes``."""
    if loaded.start is None:
        if db_urls:
            notes.append(UNKNOWN_START)
        return None
    if loaded.start.created > loaded.recording.header.created + 1:  # `record` saves it before the recording
        raise VenomError(f"{loaded.start.path} was saved after {loaded.path} was created: it is the start state of"
                         " another recording; remove it")
    if not db_urls:
        notes.append(f"the recording's start state ({loaded.start.describe()}) is not used: no --db given")
        return None
    binding = loaded.start.bind(db_urls)
    notes.extend(binding.warnings)
    return binding or None


def build_checkers(loaded: LoadedRecording, *, invariants: Path | None = None, learned: bool = True) -> tuple[list, list[str]]:
    """Built-in checkers, learned oracles (unless turned off), the user's Python and SQL invariants."""
    from venom_replay.replay.checkers.builtin import builtin_checkers
    from venom_replay.replay.checkers.user_invariants import PythonInvariants, SqlInvariants, sql_invariants_from_config

    notes: list[str] = []
    checkers: list = builtin_checkers(loaded.templates, loaded.exchanges)
    if learned:
        from venom_replay.replay.learned import LearnedChecker, learn_invariants

        checkers.append(LearnedChecker(learn_invariants(loaded.templates, loaded.recording, loaded.config), loaded.config))
    if invariants is not None:
        checkers.append(PythonInvariants(invariants))
    source = str(loaded.config.path or "config")
    queries = sql_invariants_from_config(loaded.config.raw, source)
    if queries:
        checkers.append(SqlInvariants(queries, source))
    return checkers, notes


@dataclass(slots=True)
class Databases:
    """The rollback adapter (a group for several URLs; None without --db) and one read handle per
    database for invariants."""

    urls: list[str]
    adapter: Any
    handles: dict[str, Any]


@contextmanager
def open_databases(urls: Sequence[str]) -> Iterator[Databases]:
    """Open an adapter and a read handle for each URL; everything is closed on the way out."""
    from venom_replay.adapters.group import AdapterGroup
    from venom_replay.adapters.registry import open_adapter, split_options

    from venom_replay.replay.checkers.user_invariants import close_handles, open_handle

    adapters: list[Any] = []
    handles: dict[str, Any] = {}
    try:
        for url in urls:
            adapters.append(open_adapter(url))
            clean, _ = split_options(url)
            handles[clean] = open_handle(clean)
        adapter = None if not adapters else adapters[0] if len(adapters) == 1 else AdapterGroup(adapters)
        yield Databases(list(urls), adapter, handles)
    finally:
        for a in adapters:
            a.close()
        close_handles(handles)


def run_exploration(loaded: LoadedRecording, target: str, db_urls: Sequence[str], options: ExploreOptions, *,
                    invariants: Path | None = None,
                    progress: Callable[[Any], None] | None = None,
                    on_checkers: Callable[[list], None] | None = None) -> Any:
    """Explore ``loaded`` against ``target`` with the databases of ``db_urls`` rolled back.

    Returns the ``ExploreResult`` (the databases are restored and our objects removed by then). The
    user's invariants are checked against the opened databases first: one naming an unknown database,
    or failing on them, is a ``ConfigError`` before anything is installed; one that fails later is in
    the result's ``invariant_errors``."""
    from venom_replay.replay.checkers import user_invariants
    from venom_replay.replay.explorer import Limits, explore
    from venom_replay.replay.http_client import HttpClient
    from venom_replay.replay.mutations.settings import MutationSettings

    checkers, notes = build_checkers(loaded, invariants=invariants, learned=options.learned)
    notes[:0] = loaded.templates.warnings  # a damaged recording, a configured binding that names no template
    if on_checkers is not None:
        on_checkers(checkers)
    limits = Limits(depth=options.depth, max_transitions=options.max_transitions, time_limit=options.time_limit,
                    prefix_depth=options.prefix_depth, recorded_steps=options.max_recorded_steps,
                    min_agreement=options.min_agreement)
    start = start_for(loaded, db_urls, notes)
    mutations = MutationSettings.from_config(loaded.config, per_template=options.mutations,
                                             strict_domains=options.strict_domains)
    verify = tls_verify(options)
    with ExitStack() as stack:
        dbs = stack.enter_context(open_databases(db_urls))
        user_invariants.prepare_invariants(checkers, dbs.handles)
        client = stack.enter_context(closing(HttpClient(target, timeout=options.timeout, verify=verify)))
        result = explore(loaded.templates, client, dbs.adapter, strategy=options.strategy, limits=limits,
                         checkers=checkers, progress=progress, databases=dbs.handles,
                         swap_identities=options.swap_identities, timeout=options.timeout,
                         prefix_roots=options.prefix_roots, confirm=options.confirm, shrink=options.shrink,
                         recorded_exchanges=loaded.exchanges, start_state=start, mutations=mutations)
    result.warnings[:0] = notes
    result.databases = list(db_urls)
    spec = loaded.config.inference.openapi
    result.openapi = str(Path(spec).resolve()) if spec else None
    result.invariant_errors = user_invariants.invariant_errors(checkers)
    result.warnings.extend(result.invariant_errors)
    return result


def tls_verify(options: ExploreOptions) -> bool | str:
    """How the target's HTTPS certificate is checked: ``--insecure`` not at all, ``--ca-cert`` against
    that bundle (a missing file is one line), else against the usual CAs."""
    if options.insecure:
        return False
    if options.ca_cert:
        if not Path(options.ca_cert).is_file():
            raise ConfigError(f"--ca-cert {options.ca_cert}: no such file")
        return options.ca_cert
    return True
