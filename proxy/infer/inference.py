"""Template inference: from a recording's raw exchanges to action templates with value bindings.

The recording is read in one pass, in order, keeping small per-template accumulators (so memory
grows with the number of templates and sessions, not with the traffic). The steps, each in its
own module:

1. grouping.py: which exchanges count, a first path pattern per origin (identifier-looking segments
   that vary), and one state per session, dropped after the session's last exchange.
2. observe.py: one pass over the exchanges. Per session, an index of the values earlier responses
   produced; each request value is one hash lookup there, and the matches are kept as evidence
   (bindings.py). Request fields, response noise and body shapes are folded into the same
   accumulators (accumulators.py). The work per exchange is bounded, so the pass is linear.
3. refine.py: segments that were produced by earlier responses (a slug, an id seen once) become
   parameters too; the first patterns are refined and their accumulators merged.
4. assemble.py: evidence is weighed per request location (bindings.py); the rest of each template
   (constants, inputs, volatile fields, schema, effect) is read off the accumulators, and the
   config's rules (user_rules.py) are applied.

Before all that, a recording of several hosts (a forward proxy sees the API and every third party
the client calls: a payment provider, telemetry) is cut down to one host's exchanges: the chosen
one (``--host``, ``[templates] host``), else the one ``explore --target`` names, else the one with
most exchanges, said in a warning. The others' calls never become templates, so they are never
replayed to the target with the third party's tokens and card numbers.
"""

from __future__ import annotations

import gc
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import urlsplit

from venom_replay.proxy.config import InferenceConfig, VenomConfig
from venom_replay.proxy.errors import ConfigError
from venom_replay.proxy.infer.assemble import assemble
from venom_replay.proxy.infer.grouping import Traffic
from venom_replay.proxy.infer.model import TemplateSet
from venom_replay.proxy.infer.observe import Observer
from venom_replay.proxy.infer.refine import refine
from venom_replay.proxy.recording import Exchange, Recording, read_recording


def infer_templates(recording: Recording | str | Path, config: InferenceConfig | VenomConfig | None = None) -> TemplateSet:
    """Learn the action templates and value bindings of a recording."""
    rec = recording if isinstance(recording, Recording) else read_recording(recording)
    cfg = config.inference if isinstance(config, VenomConfig) else (config or InferenceConfig())
    # The accumulators are many small acyclic objects: the cyclic GC would only rescan them.
    gc_was_enabled = gc.isenabled()
    gc.disable()
    try:
        return _infer(rec, cfg)
    finally:
        if gc_was_enabled:
            gc.enable()


def _infer(whole: Recording, cfg: InferenceConfig) -> TemplateSet:
    choice = choose_host(whole.exchanges, cfg)
    rec = whole if choice is None or not choice.left_out else replace(
        whole, exchanges=[ex for ex in whole.exchanges if host_key(ex) == choice.host])
    traffic = Traffic(rec, cfg)
    observer = Observer()
    steps: list[tuple[str, int, int]] = []  # (session, seq, first-pass template)
    for ex, segs, key, st in traffic.walk():
        t = observer.template(key)
        observer.observe(ex, segs, t, st)
        steps.append((ex.session, ex.seq, t))
    accs = observer.accs
    del observer  # the session indexes and body caches are done with
    finals, final_of = refine(accs, traffic.paths, traffic.first)
    tset = assemble(finals, final_of, steps, cfg, source=str(rec.path), ignored=traffic.ignored,
                    exchanges={ex.seq: ex for ex, _, _ in traffic.usable}, session_parts=traffic.session_parts)
    tset.warnings[:0] = whole.problems()  # a damaged or torn file: every command that learns from it says so
    if choice is not None and choice.left_out:
        tset.ignored += len(whole.exchanges) - len(rec.exchanges)  # ignored: every exchange not learned from
        if choice.reason != "chosen":
            tset.warnings.append(choice.describe())
    if cfg.openapi:
        from venom_replay.proxy.infer.openapi_input import apply_openapi  # only when a spec is given

        apply_openapi(tset, cfg.openapi, cfg)
    return tset


# ---------------------------------------------------------------- one host of several

HostKey = str
"""``host:port`` (``[::1]:8000`` for an IPv6 address), the host's name lower-cased."""


@dataclass(slots=True)
class HostChoice:
    """The host whose exchanges become templates, and the answered exchanges of the others."""

    host: HostKey
    count: int
    reason: str
    """chosen (``--host`` or ``[templates] host``), target (the replay's ``--target``), most
    (the most exchanges), only (the recording has one host)."""
    left_out: dict[HostKey, int]
    """The other hosts, most exchanges first."""

    def describe(self) -> str:
        why = {"chosen": "chosen", "target": "the --target's host", "most": "the most", "only": "the only host"}[self.reason]
        others = ", ".join(f"{host} ({n})" for host, n in self.left_out.items())
        return (f"the recording holds calls to {len(self.left_out) + 1} hosts: templates are learned from {self.host} "
                f"only ({self.count} exchanges, {why}); not replayed: {others}; --host HOST picks another")


def host_key(ex: Exchange) -> HostKey:
    return _key(ex.request.host, ex.request.port)


def _key(host: str, port: int) -> HostKey:
    host = host.lower()
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def host_counts(exchanges: list[Exchange], cfg: InferenceConfig) -> Counter[HostKey]:
    """Answered exchanges per host, those of hosts the config ignores left out (inference would too)."""
    counts: Counter[HostKey] = Counter()
    for ex in exchanges:
        req = ex.request
        if ex.response is not None and not ex.error and not (cfg.ignore_hosts and cfg.host_ignored(req.host, req.port)):
            counts[host_key(ex)] += 1
    return counts


def choose_host(exchanges: list[Exchange], cfg: InferenceConfig) -> HostChoice | None:
    """Which recorded host inference keeps (None: nothing answered). A host the user named that the
    recording does not hold is a ConfigError listing the hosts it does hold."""
    counts = host_counts(exchanges, cfg)
    ranked = dict(counts.most_common())  # ties: the host seen first
    if not ranked:
        if cfg.host is not None:
            raise ConfigError(f"{cfg.host_setting} {cfg.host}: the recording holds no answered calls")
        return None
    if cfg.host is not None:
        host, reason = _named_host(cfg.host, ranked, cfg.host_setting), "chosen"
    elif len(ranked) == 1:
        host, reason = next(iter(ranked)), "only"
    else:
        host = _target_host(cfg.replay_target, ranked)
        reason = "target" if host is not None else "most"
        host = host or next(iter(ranked))
    return HostChoice(host, ranked[host], reason, {h: n for h, n in ranked.items() if h != host})


def _named_host(value: str, ranked: dict[HostKey, int], setting: str) -> HostKey:
    """``host``, ``host:port`` or a URL, matched against the recorded hosts."""
    text = value.strip()
    try:
        parts = urlsplit(text if "://" in text else f"//{text}")
        name, port = parts.hostname, parts.port
        if port is None and "://" in text:
            port = 443 if parts.scheme == "https" else 80
    except ValueError:
        name = None
    held = ", ".join(f"{h} ({n})" for h, n in ranked.items())
    if not name:
        raise ConfigError(f"{setting} {value!r}: not a host (give host, host:port or a URL); the recording holds {held}")
    if port is not None:
        key = _key(name, port)
        if key in ranked:
            return key
        raise ConfigError(f"{setting} {value}: the recording holds no answered calls to it; it holds {held}")
    matches = [h for h in ranked if h.rpartition(":")[0].strip("[]") == name.lower()]
    if len(matches) == 1:
        return matches[0]
    if matches:
        raise ConfigError(f"{setting} {value}: several ports of it were recorded ({', '.join(matches)}); give host:port")
    raise ConfigError(f"{setting} {value}: the recording holds no answered calls to it; it holds {held}")


def _target_host(target: str | None, ranked: dict[HostKey, int]) -> HostKey | None:
    """The recorded host the replay's target names, if the recording holds it."""
    if not target:
        return None
    try:
        parts = urlsplit(target)
        if not parts.hostname:
            return None
        key = _key(parts.hostname, parts.port or (443 if parts.scheme == "https" else 80))
    except ValueError:
        return None
    return key if key in ranked else None
