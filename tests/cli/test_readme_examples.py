"""The example outputs in README.md are what the commands print today (scripts/readme_examples.py).

Each group of examples runs for real (the bundled shop as the API, the real recorder, the real CLI
in its own process) and every marked README block must match its fresh output once timings, dates,
pids and ports the tool picked itself are masked. The PostgreSQL start-state group takes about two
minutes and runs with --run-slow. To bring the README up to date: `python3 scripts/readme_examples.py --write`.
"""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
SCRIPT = ROOT / "scripts" / "readme_examples.py"


@cache
def examples() -> ModuleType:
    spec = importlib.util.spec_from_file_location("readme_examples", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module


def assert_readme_matches(group: str) -> dict[str, str]:
    outputs, skipped = examples().generate([group], log=lambda line: None)
    if skipped:
        pytest.skip(f"{group}: its server is not installed (scripts/test.sh installs it)")
    drift = examples().first_drift((ROOT / "README.md").read_text(), outputs)
    assert drift is None, f"README.md drifted; run `python3 scripts/readme_examples.py --write {group}`\n{drift}"
    return outputs


# --------------------------------------------------------------------------------------------
# The machinery, on fixed texts
# --------------------------------------------------------------------------------------------


def test_masking_ignores_timings_pids_ports_and_dates_but_not_counts() -> None:
    ex = examples()
    run_a = ("1. API shop running at http://127.0.0.1:35065 (pid 3655) on SQLite /tmp/venom-demo-r9i7zs17/shop.db\n"
             "355 states, 689 transitions in 5.617 s (complete)\ncreated 2026-11-21 16:29:00\n1 passed in 1.71s")
    run_b = ("1. API shop running at http://127.0.0.1:41234 (pid 98765) on SQLite /tmp/venom-demo-ab_cd123/shop.db\n"
             "355 states, 689 transitions in 12.1 s (complete)\ncreated 2026-12-07 02:45:39\n1 passed in 0.87s")
    assert ex.same_output(run_a, run_b)
    assert not ex.same_output(run_a, run_b.replace("355 states", "354 states"))
    assert not ex.same_output(run_a, run_b.replace("1 passed", "1 failed"))
    # A longer pid that only moved a line break is not drift.
    assert ex.same_output("shop at x (pid 12) on SQLite\nfile", "shop at x (pid 123456) on\nSQLite file")


def test_write_replaces_only_the_marked_blocks() -> None:
    ex = examples()
    text = ("Prose that quotes 118 of 118.\n\n<!-- example: show -->\n```text\nold output\n```\n<!-- /example -->\n\n"
            "```text\nhand-written, unmarked\n```\n<!-- example: graph -->\n```text\nold graph\n```\n<!-- /example -->\n")
    written = ex.replace_blocks(text, {"show": "new output\nsecond line"})
    assert written == text.replace("old output", "new output\nsecond line")
    assert ex.read_blocks(written) == {"show": "new output\nsecond line", "graph": "old graph"}
    assert "<!-- example: show -->" in ex.first_drift(text, {"show": "new output"})
    assert ex.first_drift(written, {"show": "new output\nsecond line"}) is None


def test_abridging_says_what_it_left_out() -> None:
    ex = examples()
    text = "\n".join(f"line {i}" for i in range(1, 11))
    assert ex.head(text, 3) == "line 1\nline 2\nline 3\n...  (7 more lines)"
    assert ex.only(text, r" [37]$") == "...\nline 3\n...\nline 7\n..."
    assert ex.only("$ cmd \\\n      --opt x\nout\nkept", r"^\$ |kept") == "$ cmd \\\n      --opt x\n...\nkept"
    table = ("┏━━━┓\n│ 1 │ sql  │ a   │\n│   │      │ b   │\n│ 2 │ user │ c   │\n└───┘")
    assert ex.table_rows(table, r"^│ \d+ │ sql ") == "┏━━━┓\n│ 1 │ sql  │ a   │\n│   │      │ b   │\n...  (1 other rows)\n└───┘"


def test_every_readme_block_has_a_generator_and_every_generator_a_block() -> None:
    ex = examples()
    text = (ROOT / "README.md").read_text()
    assert ex.unknown_blocks(text) == []
    produced = {b for g in ex.GROUPS.values() for b in g.blocks}
    assert produced == set(ex.read_blocks(text))


# --------------------------------------------------------------------------------------------
# The README against fresh runs
# --------------------------------------------------------------------------------------------


def test_walkthrough_blocks_match_a_fresh_run() -> None:
    outputs = assert_readme_matches("walkthrough")
    # The check is not blind: a recorder that recorded one exchange less is drift.
    drifted = outputs["record"].replace("recorded 118 exchanges", "recorded 117 exchanges")
    assert drifted != outputs["record"]
    assert examples().first_drift((ROOT / "README.md").read_text(), {**outputs, "record": drifted})


def test_demo_block_matches_a_fresh_run() -> None:
    assert_readme_matches("demo")


def test_check_exits_1_with_a_diff_when_a_block_drifted(tmp_path: Path) -> None:
    """The command itself, on the quickest group: exit 0 on the README, 1 and a diff on a drifted copy."""
    readme = (ROOT / "README.md").read_text()
    command = [sys.executable, str(SCRIPT), "--check", "pytest-plugin", "--readme"]
    done = subprocess.run([*command, str(ROOT / "README.md")], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    drifted = tmp_path / "README.md"
    drifted.write_text(readme.replace("recorded 3 exchanges in 1 session", "recorded 4 exchanges in 1 session", 1))
    assert drifted.read_text() != readme
    done = subprocess.run([*command, str(drifted)], capture_output=True, text=True, timeout=300,
                          check=False)
    assert done.returncode == 1
    assert "-venom-replay: recorded 4 exchanges in 1 session" in done.stdout
    assert "+venom-replay: recorded 3 exchanges in 1 session" in done.stdout


@pytest.mark.slow
def test_start_state_blocks_on_postgresql_match_a_fresh_run() -> None:
    assert_readme_matches("start-state")
