"""The one list of config sections and keys (proxy/config_schema.py) matches the code that reads them.

The proxy layer cannot import the explorer's options or the learned oracles' thresholds, so the
schema names their keys itself; these tests fail as soon as an option or a threshold is added,
renamed or retyped in one place and not the other, and when the README's example config stops
loading.
"""

from __future__ import annotations

import dataclasses
import re
from pathlib import Path

import pytest

from venom_replay.proxy.config import load_config
from venom_replay.proxy.config_schema import NUMBER, SECTIONS, WHOLE, check_sections
from venom_replay.proxy.errors import ConfigError
from venom_replay.replay.learned.observe import LearnConfig
from venom_replay.replay.options import ExploreOptions

ROOT = Path(__file__).resolve().parents[2]


def _as_tuple(kind: type | tuple[type, ...]) -> tuple[type, ...]:
    return kind if isinstance(kind, tuple) else (kind,)


def test_explore_keys_and_types_are_the_options_own():
    assert {k: _as_tuple(v) for k, v in ExploreOptions.CONFIG_KEYS.items()} == SECTIONS["explore"]


def test_learned_keys_are_the_thresholds_and_ignore():
    thresholds = {f.name: WHOLE if isinstance(f.default, int) else NUMBER
                  for f in dataclasses.fields(LearnConfig) if f.name != "ignore"}
    assert {k: v for k, v in SECTIONS["learned"].items() if k != "ignore"} == thresholds
    assert "ignore" in SECTIONS["learned"]


def test_the_readme_example_config_loads(tmp_path):
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    section = readme[readme.index("## The config file"):]
    example = re.search(r"```toml\n(.*?)```", section, re.DOTALL)
    assert example is not None
    path = tmp_path / "venom.toml"
    path.write_text(example.group(1))
    loaded = load_config(path)
    assert set(loaded.raw) <= set(SECTIONS)
    ExploreOptions.from_config(loaded)


@pytest.mark.parametrize(("data", "expected"), [
    ({"explore": {"depth": 3, "time_limit": 2.5, "learned": False}}, None),
    ({"invariants": {"sql": ["SELECT 1", {"name": "n", "query": "SELECT 1", "database": "shop"}]}}, None),
    ({"explore": 3}, "[explore] must be a table"),
    ({"explore": {"depth": 3.0}}, "[explore] depth = 3.0: expected a whole number"),
    ({"explore": {"learned": 1}}, "[explore] learned = 1: expected true or false"),
    ({"learned": {"min_confidence": True}}, "[learned] min_confidence = True: expected a number"),
    ({"reports": {}}, "unknown section [reports] (known: [templates], [explore], [mutations], [invariants], [learned])"),
    ({"sql": []}, "sql must be inside a section (did you mean [invariants] sql?)"),
    ({"colour": "red"}, "unknown key 'colour' outside any section (sections: [templates], [explore], [mutations], [invariants], [learned])"),
])
def test_check_sections_messages(data, expected):
    path = Path("venom.toml")
    if expected is None:
        check_sections(data, path)
        return
    with pytest.raises(ConfigError) as err:
        check_sections(data, path)
    assert str(err.value) == f"venom.toml: {expected}"
