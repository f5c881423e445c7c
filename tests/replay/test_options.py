"""ExploreOptions: the only home of the explorer's defaults, and the validation of [explore]."""

from __future__ import annotations

from pathlib import Path

import pytest

from venom_replay.proxy.config import load_config
from venom_replay.proxy.errors import ConfigError
from venom_replay.replay.explorer import Limits
from venom_replay.replay.options import DEFAULTS, ExploreOptions


def _config(tmp_path: Path, text: str):
    path = tmp_path / "venom.toml"
    path.write_text(text)
    return load_config(path)


def test_config_values_override_the_defaults_and_flags_override_the_config(tmp_path):
    options = ExploreOptions.from_config(_config(tmp_path, "[explore]\ndepth = 5\nstrategy = 'dfs'\ntime_limit = 30\n"))
    assert (options.depth, options.strategy, options.time_limit) == (5, "dfs", 30)
    assert options.max_transitions == DEFAULTS.max_transitions
    flagged = options.with_overrides(depth=2, strategy=None)
    assert (flagged.depth, flagged.strategy) == (2, "dfs")


def test_limits_take_their_defaults_from_the_options():
    limits = Limits()
    assert (limits.depth, limits.max_transitions, limits.prefix_depth) == (
        DEFAULTS.depth, DEFAULTS.max_transitions, DEFAULTS.prefix_depth)


@pytest.mark.parametrize(("text", "expected"), [
    ("[explore]\ndepht = 4\n", "unknown key 'depht' (did you mean depth?)"),
    ("[explore]\ndepth = 'four'\n", "depth = 'four': expected a whole number"),
    ("[explore]\ndepth = true\n", "depth = True: expected a whole number"),
    ("[explore]\nstrategy = 'random'\n", "unknown strategy 'random'"),
])
def test_bad_explore_sections_are_one_line_errors_naming_file_and_key(tmp_path, text, expected):
    with pytest.raises(ConfigError) as err:
        ExploreOptions.from_config(_config(tmp_path, text))
    message = str(err.value)
    assert expected in message and "venom.toml" in message and "\n" not in message
