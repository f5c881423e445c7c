"""The recorded exchanges of each template, read once from the recording."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

from venom_replay.proxy.infer.model import ActionTemplate
from venom_replay.proxy.recording import Exchange


@dataclass(slots=True)
class TemplateTraffic:
    """What a template's recorded calls sent and got back."""

    template: ActionTemplate
    exchanges: list[Exchange] = field(default_factory=list)

    @property
    def answered(self) -> list[Exchange]:
        return [ex for ex in self.exchanges if ex.response is not None]


def traffic_by_template(templates: Iterable[ActionTemplate], exchanges: Iterable[Exchange]) -> dict[str, TemplateTraffic]:
    """Template id -> its recorded exchanges, in recorded order."""
    by_seq = {ex.seq: ex for ex in exchanges}
    return {
        t.id: TemplateTraffic(t, [by_seq[s] for s in sorted(t.exchange_seqs) if s in by_seq])
        for t in templates
    }
