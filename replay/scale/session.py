"""``run_parallel()``: `explore --workers N` as one library call: the replicas (started from --api-cmd on
copies of the databases, or given with --replica), the worker pool (local processes, or Ray actors
with --ray), the exploration, and the clean-up of all of it whatever happens."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from venom_replay.proxy.errors import ConfigError, VenomError
from venom_replay.replay.explorer.results import Limits
from venom_replay.replay.scale.messages import JobFile, WorkerJob


@dataclass(slots=True)
class Replica:
    target: str
    db_urls: list[str]


def parse_replica(text: str) -> Replica:
    """``--replica 'TARGET_URL DB_URL...'``."""
    from venom_replay.replay.http_client import Target

    parts = text.split()
    if not parts:
        raise ConfigError("--replica: give the replica's target URL and then its database URLs, e.g. "
                          "--replica 'http://127.0.0.1:8001 postgresql://app@127.0.0.1/shop_1'")
    try:
        Target.parse(parts[0])
    except VenomError:
        raise ConfigError(f"--replica {text!r}: its first word must be the replica's URL, such as "
                          "http://127.0.0.1:8001, then its database URLs") from None
    return Replica(parts[0], parts[1:])


@dataclass(slots=True)
class ScaleOptions:
    """How the workers run: how many, on which replicas, where."""

    workers: int = 1
    api_cmd: str | None = None
    api_ready: str = "/"
    replicas: tuple[str, ...] = ()
    ray: str | None = None

    @property
    def parallel(self) -> bool:
        return self.workers > 1 or self.api_cmd is not None or bool(self.replicas) or self.ray is not None

    def check(self, target: str | None, dbs: Sequence[str]) -> None:
        """One-line errors for combinations that cannot work."""
        if self.api_cmd and self.replicas:
            raise ConfigError("--api-cmd and --replica exclude each other: either the tool starts the replicas or you do")
        if self.replicas and self.workers not in (1, len(self.replicas)):
            raise ConfigError(f"--workers {self.workers} with {len(self.replicas)} --replica: one worker per replica "
                              "(leave --workers out)")
        if self.parallel and not self.api_cmd and not self.replicas:
            raise ConfigError("--workers needs replicas: --api-cmd 'CMD' (the tool starts one API per worker on a copy "
                              "of each --db) or --replica 'TARGET DB...' per worker")
        if self.api_cmd is None and target is None and not self.replicas:
            raise ConfigError("--target is required (or --api-cmd, which starts the API itself)")
        if self.replicas:
            counts = {len(parse_replica(r).db_urls) for r in self.replicas}
            if len(counts) > 1:
                raise ConfigError("--replica: every replica needs the same number of database URLs")


@contextmanager
def replica_set(scale: ScaleOptions, db_urls: Sequence[str]) -> Iterator[list[Replica]]:
    """The replicas to explore: the user's (--replica), or copies of ``db_urls`` each with an API started
    from --api-cmd; copies and processes are removed on the way out, also after errors and Ctrl-C."""
    if scale.replicas:
        yield [parse_replica(r) for r in scale.replicas]
        return
    from venom_replay.adapters.copies import copy_database, drop_copy, registry
    from venom_replay.adapters.registry import database_kind
    from venom_replay.replay.scale.api_processes import ApiReplicas, check_command

    assert scale.api_cmd is not None
    check_command(scale.api_cmd, len(db_urls), {database_kind(u) for u in db_urls})  # a typo fails before any copy
    run_id = secrets.token_hex(3)
    copies: list[list[str]] = []
    try:
        for i in range(scale.workers):
            row: list[str] = []
            copies.append(row)
            for url in db_urls:
                row.append(copy_database(url, i, run_id))
        with ApiReplicas(scale.api_cmd, copies, ready_path=scale.api_ready,
                         on_start=lambda pid: registry.record_process(run_id, pid)) as started:
            yield [Replica(r.target, list(r.db_urls)) for r in started]
    finally:
        for row in copies:
            for url in row:
                drop_copy(url)


def make_jobs(loaded: Any, replicas: Sequence[Replica], options: Any, *, invariants: Path | None,
              auth: Sequence[str], origin_db_urls: Sequence[str] = ()) -> list[WorkerJob]:
    from venom_replay.replay.start_state import start_state_path

    start = start_state_path(loaded.path)
    spec = loaded.config.inference.openapi
    recording = JobFile.read(loaded.path)
    assert recording is not None
    return [WorkerJob(recording=recording, start_state=JobFile.read(start) if start.is_file() else None,
                      config=loaded.config, openapi=JobFile.read(spec) if spec else None,
                      invariants=JobFile.read(invariants), auth=tuple(auth), options=options,
                      target=r.target, db_urls=list(r.db_urls), index=i, origin_db_urls=list(origin_db_urls))
            for i, r in enumerate(replicas)]


def make_pool(jobs: Sequence[WorkerJob], ray_address: str | None) -> Any:
    if ray_address is not None:
        from venom_replay.replay.scale.ray_pool import RayPool

        return RayPool(jobs, address=ray_address)
    from venom_replay.replay.scale.pool import ProcessPool

    return ProcessPool(jobs)


def run_parallel(loaded: Any, db_urls: Sequence[str], options: Any, scale: ScaleOptions, *,
                 invariants: Path | None = None, auth: Sequence[str] = (),
                 progress: Callable[[Any], None] | None = None) -> Any:
    """Explore ``loaded`` with ``scale.workers`` workers; the ``ExploreResult`` as ``run_exploration``'s."""
    from venom_replay.replay.scale.run import explore_parallel

    limits = Limits(depth=options.depth, max_transitions=options.max_transitions, time_limit=options.time_limit,
                    prefix_depth=options.prefix_depth, recorded_steps=options.max_recorded_steps,
                    min_agreement=options.min_agreement)
    with replica_set(scale, db_urls) as replicas:
        jobs = make_jobs(loaded, replicas, options, invariants=invariants, auth=auth, origin_db_urls=db_urls)
        pool = make_pool(jobs, scale.ray)
        try:
            result = explore_parallel(loaded.templates, pool, strategy=options.strategy, limits=limits,
                                      targets=[r.target for r in replicas], databases=[r.db_urls for r in replicas],
                                      run_mutations=True, shrink=options.shrink, progress=progress)
        finally:
            pool.close()
    result.warnings[:0] = list(loaded.templates.warnings)
    spec = loaded.config.inference.openapi
    result.openapi = str(Path(spec).resolve()) if spec else None
    return result
