#!/usr/bin/env python3
"""Regenerate or check the example outputs in README.md by running each example for real.

Each generated block in README.md sits between two HTML comments:

    <!-- example: NAME -->
    ```text
    ...
    ```
    <!-- /example -->

and nothing outside those markers is touched. ``--write`` replaces each block with a fresh run's
output; ``--check`` runs the same commands and exits 1 with a unified diff of the first block that
drifted. What legitimately varies between runs (timings, dates, pids, ports the tool picked itself,
temporary directory names) is masked on both sides before comparing; everything else, counts
included, must match.

The bundled demo shop is the API (``python -m venom_replay.replay.demo.shop``) and its scripted
client traffic (``replay/demo/traffic.py``) is what gets recorded. Commands are shown with the ports
the README uses (shop on 8000, proxy on 8080) and run on free ports of the same length, so what the
tools print keeps its layout when the ports are put back. The PostgreSQL example needs PostgreSQL 15
(``tests/support/db_servers.py``); without it that block is left as it is and reported as skipped.

    python3 scripts/readme_examples.py --check            # every block
    python3 scripts/readme_examples.py --write demo       # only the blocks of the demo group
    python3 scripts/readme_examples.py --list
"""

from __future__ import annotations

import argparse
import difflib
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
WIDTH = "100"
"""Terminal width the examples are printed at (rich wraps tables and long lines to it)."""

BLOCK_RE = re.compile(r"(<!-- example: (?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /example -->)", re.DOTALL)

SHOP_PORT, PROXY_PORT, PG_PORT = 8000, 8080, 5432
"""The ports the README shows; the real runs use free ports with as many digits."""

# What varies from run to run; masked on both sides before comparing (never when writing).
VOLATILE: list[tuple[re.Pattern[str], str]] = [
    (re.compile(r"\d{4}-\d\d-\d\d[ T]\d\d:\d\d:\d\d(?:\.\d+)?(?:[+-]\d\d:\d\d)?"), "<datetime>"),
    (re.compile(r"\b\d+(?:\.\d+)? ?s\b"), "<seconds> s"),
    (re.compile(r"\(pid \d+\)"), "(pid <pid>)"),
    (re.compile(r"127\.0\.0\.1:\d{4,5}"), "127.0.0.1:<port>"),
    (re.compile(r"venom-demo-[a-z0-9_]{8}"), "venom-demo-<tmp>"),
    (re.compile(r"venom_demo_[a-z0-9]+"), "venom_demo_<random>"),
]


class ExampleError(RuntimeError):
    """An example did not run the way the README describes it (a command failed, a server did not start)."""


# --------------------------------------------------------------------------------------------
# Blocks in the README
# --------------------------------------------------------------------------------------------


def read_blocks(text: str) -> dict[str, str]:
    """NAME -> the block's output text (without its fence)."""
    return {m.group("name"): _unfence(m.group("body")) for m in BLOCK_RE.finditer(text)}


def _unfence(body: str) -> str:
    lines = body.strip("\n").splitlines()
    if len(lines) >= 2 and lines[0].startswith("```") and lines[-1].startswith("```"):
        lines = lines[1:-1]
    return "\n".join(lines)


def replace_blocks(text: str, outputs: dict[str, str]) -> str:
    """The README with the named blocks replaced by fenced outputs; other blocks and prose untouched."""

    def render(m: re.Match[str]) -> str:
        name = m.group("name")
        if name not in outputs:
            return m.group(0)
        return f"{m.group(1)}```text\n{outputs[name]}\n```\n{m.group(4)}"

    return BLOCK_RE.sub(render, text)


def mask(text: str) -> str:
    for pattern, placeholder in VOLATILE:
        text = pattern.sub(placeholder, text)
    return text


def same_output(expected: str, actual: str) -> bool:
    """Equal once volatile values are masked; a run whose values only re-wrapped a line is equal too."""
    a, b = mask(expected), mask(actual)
    return a == b or a.split() == b.split()


def first_drift(readme_text: str, outputs: dict[str, str]) -> str | None:
    """A unified diff of the first block whose README text differs from the fresh output, or None."""
    blocks = read_blocks(readme_text)
    for name, actual in outputs.items():
        if name not in blocks:
            return f"README.md has no block <!-- example: {name} -->\n"
        if not same_output(blocks[name], actual):
            diff = difflib.unified_diff(mask(blocks[name]).splitlines(), mask(actual).splitlines(),
                                        f"README.md <!-- example: {name} --> (masked)",
                                        f"fresh run of {name} (masked)", lineterm="")
            return "\n".join(diff) + "\n"
    return None


# --------------------------------------------------------------------------------------------
# Abridging (done here, never by hand)
# --------------------------------------------------------------------------------------------


def head(text: str, n: int) -> str:
    """The first ``n`` lines and a line saying how many were left out."""
    lines = text.splitlines()
    if len(lines) <= n:
        return text
    return "\n".join([*lines[:n], f"...  ({len(lines) - n} more lines)"])


def through_first(text: str, prefix: str, tail: int) -> str:
    """The lines up to the first one starting with ``prefix``, a "..." line, and the last ``tail`` lines."""
    lines = text.splitlines()
    end = next((i for i, line in enumerate(lines) if line.startswith(prefix)), None)
    if end is None or end + 1 >= len(lines) - tail:
        return text
    return "\n".join([*lines[:end + 1], f"...  ({len(lines) - end - 1 - tail} lines left out)", *lines[-tail:]])


def only(text: str, pattern: str, keep_first: int = 0) -> str:
    """The first ``keep_first`` lines and the lines matching ``pattern``; "..." where lines were left out."""
    kept: list[str] = []
    left_out = False
    regex = re.compile(pattern)
    continued = False  # a kept command line ending in a backslash keeps the line that continues it
    for i, line in enumerate(text.splitlines()):
        if i < keep_first or continued or regex.search(line):
            continued = line.endswith(" \\")
            if left_out:
                kept.append("...")
            kept.append(line)
            left_out = False
        else:
            left_out = True
    if left_out:
        kept.append("...")
    return "\n".join(kept)


def table_rows(text: str, pattern: str) -> str:
    """A findings table cut to the rows (with their wrapped lines) that match ``pattern``; a
    "..." line says how many rows were left out. Lines outside the table are kept."""
    regex = re.compile(pattern)
    out: list[str] = []
    row: list[str] = []
    left_out = 0

    def close_row() -> None:
        nonlocal left_out
        if row and regex.search(" ".join(row)):
            out.extend(row)
        elif row:
            left_out += 1
        row.clear()

    for line in text.splitlines():
        if line.startswith("│ "):
            if not line.startswith("│   │"):  # a new row starts where the "#" cell is filled
                close_row()
            row.append(line)
            continue
        close_row()
        if line.startswith("└") and left_out:
            out.append(f"...  ({left_out} other rows)")
        out.append(line)
    close_row()
    return "\n".join(out)


def shorten_table_rows(text: str, first_rows: int) -> str:
    """The demo's templates table cut to its first rows: the lines between the table's header
    (the line starting with "template") and step 4 keep ``first_rows`` rows and say how many there were."""
    lines = text.splitlines()
    start = next(i for i, line in enumerate(lines) if line.startswith("template "))
    end = next(i for i, line in enumerate(lines) if i > start and re.match(r"\d+\. ", line))
    rows = lines[start + 1:end]
    starts = [i for i, line in enumerate(rows) if not line.startswith(" ")]  # wrapped lines start blank
    if len(starts) <= first_rows:
        return text
    return "\n".join([*lines[:start + 1], *rows[:starts[first_rows]], f"...  ({len(starts)} rows in all)",
                      *lines[end:]])


# --------------------------------------------------------------------------------------------
# Running commands as the README shows them
# --------------------------------------------------------------------------------------------


def free_port_like(shown: int) -> int:
    """A free port on 127.0.0.1 with as many digits as ``shown`` (near it), so that output printed
    with the real port keeps its layout when the shown port is put back."""
    low = 10 ** (len(str(shown)) - 1)
    for port in [*range(shown, min(shown + 900, 10 * low)), *range(low + 24, shown)]:
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
            return port
    raise ExampleError(f"no free port with {len(str(shown))} digits near {shown}")


@dataclass
class Workspace:
    """A temporary directory the commands run in, and the real values behind what the README shows."""

    cwd: Path
    ports: dict[int, int] = field(default_factory=dict)
    """Port the README shows -> port the run uses."""
    extra_env: dict[str, str] = field(default_factory=dict)
    last_exit: int = 0

    def env(self) -> dict[str, str]:
        env = {**os.environ, "COLUMNS": WIDTH, "LINES": "50", "PYTHONUNBUFFERED": "1", "NO_COLOR": "1",
               "TERM": "dumb"}
        # CI / BUILD_NUMBER: pytest stops shortening its summary lines under CI; the README shows a terminal.
        for name in ("FORCE_COLOR", "VENOM_TARGET", "VENOM_DB", "PYTEST_ADDOPTS", "CI", "BUILD_NUMBER"):
            env.pop(name, None)
        for name in [n for n in env if n.startswith("PYTEST_XDIST") or n == "PYTEST_CURRENT_TEST"]:
            env.pop(name)  # run from a test on pytest-xdist: the example's pytest is not an xdist worker
        return {**env, **self.extra_env}

    def to_real(self, arg: str) -> str:
        for shown, real in self.ports.items():
            arg = str(real) if arg == str(shown) else arg.replace(f"127.0.0.1:{shown}", f"127.0.0.1:{real}")
        return arg

    def to_shown(self, text: str) -> str:
        for shown, real in self.ports.items():
            text = text.replace(f"127.0.0.1:{real}", f"127.0.0.1:{shown}")
        return text.replace(f"{self.cwd}/", "").replace(str(self.cwd), ".")

    def argv(self, command: str) -> list[str]:
        args = [self.to_real(a) for a in shlex.split(command)]
        programs = {"venom-replay": [sys.executable, "-m", "venom_replay.replay.cli"],
                    "pytest": [sys.executable, "-m", "pytest"], "python": [sys.executable]}
        return programs.get(args[0], args[:1]) + args[1:]

    def run(self, command: str, *, expect: int | tuple[int, ...] = 0, timeout: float = 300, echo: bool = True) -> str:
        """``$ command`` and what it printed (stdout and stderr in the order a terminal shows them)."""
        done = subprocess.run(self.argv(command), check=False, cwd=self.cwd, env=self.env(), stdout=subprocess.PIPE,
                              stderr=subprocess.STDOUT, text=True, timeout=timeout)
        expected = (expect,) if isinstance(expect, int) else expect
        self.last_exit = done.returncode
        if done.returncode not in expected:
            raise ExampleError(f"`{command}` exited {done.returncode} (expected {expected}):\n{done.stdout[-3000:]}")
        output = tidy(self.to_shown(done.stdout))
        return f"$ {shown_command(command)}\n{output}" if echo else output

    def start(self, command: str, ready: str, log: str, timeout: float = 60) -> subprocess.Popen:
        """Start a long-running command; return once its output (in ``log``) matches ``ready``."""
        with open(self.cwd / log, "w") as out:  # the child keeps its own copy of the descriptor
            proc = subprocess.Popen(self.argv(command), cwd=self.cwd, env=self.env(), stdout=out,
                                    stderr=subprocess.STDOUT, text=True)
        deadline = time.monotonic() + timeout
        while not re.search(ready, (self.cwd / log).read_text()):
            if proc.poll() is not None or time.monotonic() > deadline:
                stop(proc)
                raise ExampleError(f"`{command}` did not get ready:\n{(self.cwd / log).read_text()[-3000:]}")
            time.sleep(0.1)
        return proc


def shown_command(command: str) -> str:
    """A command as a terminal user would paste it: a line longer than the terminal is continued
    with a backslash before an option (an option stays with its value)."""
    chunks: list[str] = []
    for arg in map(shlex.quote, shlex.split(command)):
        if chunks and not arg.startswith("-") and chunks[-1].startswith("-") and " " not in chunks[-1]:
            chunks[-1] += f" {arg}"
        else:
            chunks.append(arg)
    lines = [chunks[0]]
    for chunk in chunks[1:]:
        if chunk.startswith("-") and len(lines[-1]) + len(chunk) + 3 > int(WIDTH):
            lines[-1] += " \\"
            lines.append(f"      {chunk}")
        else:
            lines[-1] += f" {chunk}"
    return "\n".join(lines)


def tidy(text: str) -> str:
    """Trailing spaces off every line (rich pads centred titles), no blank lines at the end."""
    return "\n".join(line.rstrip() for line in text.splitlines()).rstrip("\n")


def stop(proc: subprocess.Popen, sig: int = signal.SIGTERM) -> None:
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout=30)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


@contextmanager
def workspace() -> Iterator[Workspace]:
    path = Path(tempfile.mkdtemp(prefix="venom-readme-"))
    try:
        yield Workspace(path.resolve())
    finally:
        shutil.rmtree(path, ignore_errors=True)


@contextmanager
def shop(ws: Workspace, db_url: str) -> Iterator[None]:
    """The bundled shop on a free port shown as 8000."""
    ws.ports[SHOP_PORT] = free_port_like(SHOP_PORT)
    proc = ws.start(f"python -m venom_replay.replay.demo.shop --db {db_url} --port {SHOP_PORT}",
                    r"listening on http://", "shop.log")
    try:
        yield
    finally:
        stop(proc)


def record(ws: Workspace, extra: str = "") -> str:
    """Terminal 2 records while terminal 3 plays the shop's scripted client traffic through the proxy."""
    ws.ports[PROXY_PORT] = free_port_like(PROXY_PORT)
    command = (f"venom-replay record --target http://127.0.0.1:{SHOP_PORT} --listen-port {PROXY_PORT} "
               f"--out shop.vrec{extra}")
    recorder = ws.start(command, r"Ctrl-C to stop", "record.log")
    try:
        traffic = ws.run(f"python -m venom_replay.replay.demo.traffic http://127.0.0.1:{PROXY_PORT}", echo=False)
    finally:
        stop(recorder, signal.SIGINT)
    if recorder.returncode != 0:
        raise ExampleError(f"`{command}` exited {recorder.returncode}:\n{(ws.cwd / 'record.log').read_text()}")
    recorded = tidy(ws.to_shown((ws.cwd / "record.log").read_text()))
    return (f"# terminal 2\n$ {shown_command(command)}\n{recorded.replace('Ctrl-C to stop', 'Ctrl-C to stop' + chr(10) + '^C', 1)}\n"
            f"# terminal 3\n$ python -m venom_replay.replay.demo.traffic http://127.0.0.1:{PROXY_PORT}\n{traffic}")


def finding_number(ws: Workspace, report: str, checker: str) -> int:
    findings = json.loads((ws.cwd / report).read_text())["findings"]
    for f in findings:
        if f["checker"] == checker:
            return int(f["number"])
    raise ExampleError(f"{report}: no {checker} finding (findings: {[f['checker'] for f in findings]})")


# --------------------------------------------------------------------------------------------
# The examples, in groups that share one set-up
# --------------------------------------------------------------------------------------------


def demo_group() -> dict[str, str]:
    """`venom-replay demo`, as a new user runs it first."""
    with workspace() as ws:
        out = ws.run("venom-replay demo --report venom-demo-report", timeout=600)
    return {"demo": shorten_table_rows(out, 3)}


def readme_code_block(first_line: str) -> str:
    """The text of the README's own code block that starts with ``first_line`` (the example runs what
    the README shows)."""
    for m in re.finditer(r"```\w*\n(.*?)```", README.read_text(), re.DOTALL):
        if m.group(1).startswith(first_line):
            return m.group(1)
    raise ExampleError(f"README.md has no code block starting with {first_line!r}")


def config_sections(toml_text: str, keep: set[str]) -> str:
    """The sections of a TOML text whose table name starts with one of ``keep``."""
    chunks = re.split(r"(?m)^(?=\[)", toml_text)
    return "".join(c for c in chunks if re.match(r"\[+([\w-]+)", c) and re.match(r"\[+([\w-]+)", c).group(1) in keep)


def walkthrough_group() -> dict[str, str]:
    """The walk-through: record, show, templates, graph, explore, reproduce, then the invariants run."""
    outputs: dict[str, str] = {}
    with workspace() as ws, shop(ws, "sqlite:///shop.db"):
        outputs["record"] = record(ws)
        outputs["show"] = head(ws.run("venom-replay show shop.vrec"), 12)
        outputs["templates"] = head(ws.run("venom-replay templates shop.vrec"), 14)
        outputs["graph"] = "\n".join([
            ws.run("venom-replay graph shop.vrec -o shop.html"),
            ws.run("venom-replay graph shop.vrec --unseen --depth 3 --limit 5"),
        ])
        explore = ws.run(f"venom-replay explore shop.vrec --target http://127.0.0.1:{SHOP_PORT} --db sqlite:///shop.db "
                         "--depth 4 --time-limit 40 --report out/", expect=(0, 1))
        outputs["explore"] = f"{explore}\n$ echo $?\n{ws.last_exit}"
        refund = finding_number(ws, "out/report.json", "repeated-success")
        outputs["reproduce"] = through_first(
            ws.run(f"venom-replay reproduce out/report.json {refund} --db sqlite:///shop.db", expect=1), "╰", 8)
        outputs["reproduce-pytest"] = "\n".join([
            ws.run(f"venom-replay reproduce out/report.json {refund} --emit pytest -o test_double_refund.py"),
            only(ws.run("pytest -q test_double_refund.py", expect=1), r"^(\$ |FAILED |\d+ (failed|passed))"),
        ])
        (ws.cwd / "invariants.py").write_text(readme_code_block("# invariants.py"))
        (ws.cwd / "venom.toml").write_text(config_sections(readme_code_block("[templates]"),
                                                           {"explore", "invariants", "learned"}))
        invariants = ws.run(f"venom-replay explore shop.vrec --target http://127.0.0.1:{SHOP_PORT} --db sqlite:///shop.db "
                            "--invariants invariants.py --report out-inv/", expect=(0, 1))
        # The rows of the user's invariants (checkers "sql" and "user"); the others are in the explore block.
        outputs["invariants"] = only(table_rows(invariants, r"^│ \d+ │ (sql|user) "),
                                     r"^(\$ |\d+ states|recorded steps|\s+\d+ finding|[┏┃┡│└]|\.\.\. )")
    return outputs


E2E_SUITE = '''\
"""A one-test end-to-end suite against the shop, recorded by the pytest plugin in README.md."""
import os

import requests


def test_admin_sees_the_catalogue():
    base = os.environ["SHOP_URL"]
    token = requests.post(f"{base}/login", json={"username": "%s", "password": "%s"}).json()["token"]
    auth = {"Authorization": f"Bearer {token}"}
    assert requests.get(f"{base}/me", headers=auth).json()["role"] == "admin"
    assert requests.get(f"{base}/products", headers=auth).status_code == 200
'''


def pytest_plugin_group() -> dict[str, str]:
    """`pytest --venom-record`: a small end-to-end suite recorded by the plugin (3 calls, 1 test)."""
    from venom_replay.replay.demo.shop import ADMIN_PASSWORD, ADMIN_USERNAME

    with workspace() as ws, shop(ws, "sqlite:///shop.db"):
        (ws.cwd / "tests" / "e2e").mkdir(parents=True)
        (ws.cwd / "tests" / "e2e" / "test_shop.py").write_text(E2E_SUITE % (ADMIN_USERNAME, ADMIN_PASSWORD))
        ws.extra_env["SHOP_URL"] = ws.to_real(f"http://127.0.0.1:{SHOP_PORT}")
        out = ws.run("pytest -q tests/e2e --venom-record e2e.vrec")
    return {"pytest-plugin": out}


def start_state_group() -> dict[str, str]:
    """`record --db` on PostgreSQL, then `show` and `explore` starting from the saved start state."""
    sys.path.insert(0, str(ROOT / "tests"))
    from support.db_servers import PostgresServer

    # PostgresServer() raises ServerUnavailable without PostgreSQL 15: the group is then skipped.

    server = PostgresServer()
    server.port = free_port_like(PG_PORT)
    server.start()
    try:
        server.create_database("shop")
        pg = f"postgresql://postgres@127.0.0.1:{PG_PORT}/shop"
        with workspace() as ws:
            ws.ports[PG_PORT] = server.port
            with shop(ws, pg):
                recorded = record(ws, f" --db {pg}")
                show = only(ws.run("venom-replay show shop.vrec"), r"^(\$ |start state:)")
                explore = only(ws.run(f"venom-replay explore shop.vrec --target http://127.0.0.1:{SHOP_PORT} "
                                      f"--db {pg} --report out", expect=(0, 1), timeout=900),
                               r"^(\$ |\d+ states|recorded steps|warning: started)|rows removed")
                (ws.cwd / "shop.vrec.start").rename(ws.cwd / "shop.vrec.start.saved")
                unknown = only(ws.run(f"venom-replay explore shop.vrec --target http://127.0.0.1:{SHOP_PORT} "
                                      f"--db {pg} --depth 1 --prefix-roots 0 --report out-unknown", expect=(0, 1)),
                               r"^(\$ |recorded steps)")
    finally:
        server.stop()
    return {"start-state": f"{recorded}\n{show}\n{explore}",
            "start-state-unknown": f"$ mv shop.vrec.start shop.vrec.start.saved\n{unknown}"}


@dataclass(frozen=True)
class Group:
    run: Callable[[], dict[str, str]]
    blocks: tuple[str, ...]
    what: str


GROUPS: dict[str, Group] = {
    "demo": Group(demo_group, ("demo",), "venom-replay demo (about 20 s)"),
    "walkthrough": Group(walkthrough_group, ("record", "show", "templates", "graph", "explore", "reproduce",
                                             "reproduce-pytest", "invariants"),
                         "record, show, templates, graph, explore, reproduce, invariants on SQLite (about 30 s)"),
    "pytest-plugin": Group(pytest_plugin_group, ("pytest-plugin",), "pytest --venom-record (about 10 s)"),
    "start-state": Group(start_state_group, ("start-state", "start-state-unknown"),
                         "record --db and explore on PostgreSQL 15 (about 2 minutes)"),
}


def groups_for(names: list[str]) -> list[str]:
    """The groups that produce the named groups or blocks (all when none is named)."""
    if not names:
        return list(GROUPS)
    chosen: list[str] = []
    for name in names:
        group = name if name in GROUPS else next((g for g, grp in GROUPS.items() if name in grp.blocks), None)
        if group is None:
            raise SystemExit(f"unknown example {name!r}; --list shows them")
        if group not in chosen:
            chosen.append(group)
    return chosen


def generate(group_names: list[str], log: Callable[[str], None] = print) -> tuple[dict[str, str], list[str]]:
    """Run the groups; their outputs, and the groups skipped because a server is not installed."""
    outputs: dict[str, str] = {}
    skipped: list[str] = []
    for name in group_names:
        started = time.monotonic()
        try:
            outputs.update(GROUPS[name].run())
        except Exception as exc:  # a missing server binary skips; anything else is a failure
            if type(exc).__name__ != "ServerUnavailable":
                raise
            skipped.append(name)
            log(f"SKIPPED {name}: {exc}")
            continue
        log(f"ran {name} in {time.monotonic() - started:.1f} s")
    return outputs, skipped


def unknown_blocks(readme_text: str) -> list[str]:
    """Blocks in the README that no group produces (a typo in a marker, or a removed example)."""
    known = {b for g in GROUPS.values() for b in g.blocks}
    return [name for name in read_blocks(readme_text) if name not in known]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    action = parser.add_mutually_exclusive_group(required=True)
    action.add_argument("--write", action="store_true", help="rewrite the README blocks with a fresh run")
    action.add_argument("--check", action="store_true", help="exit 1 with a diff when a block drifted")
    action.add_argument("--list", action="store_true", help="list the groups and their blocks")
    action.add_argument("--print", action="store_true", help="print the fresh outputs, README untouched")
    parser.add_argument("names", nargs="*", help="groups or blocks to run (default: all)")
    parser.add_argument("--readme", type=Path, default=README, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.list:
        for name, group in GROUPS.items():
            print(f"{name}: {', '.join(group.blocks)}  -- {group.what}")
        return 0
    text = args.readme.read_text()
    if stray := unknown_blocks(text):
        print(f"README.md has example blocks no group produces: {', '.join(stray)}", file=sys.stderr)
        return 1
    chosen = groups_for(args.names)
    outputs, _ = generate(chosen, log=lambda line: print(line, file=sys.stderr))
    if args.print:
        for name, output in outputs.items():
            print(f"<!-- example: {name} -->\n{output}\n<!-- /example -->")
        return 0
    if args.write:
        text = args.readme.read_text()  # read again: others may have edited the prose during the run
        missing = [name for name in outputs if name not in read_blocks(text)]
        if missing:
            print(f"README.md has no marker for: {', '.join(missing)}", file=sys.stderr)
            return 1
        args.readme.write_text(replace_blocks(text, outputs))
        print(f"rewrote {len(outputs)} block(s) in {args.readme}", file=sys.stderr)
        return 0
    drift = first_drift(text, outputs)
    if drift:
        sys.stdout.write(drift)
        return 1
    print(f"{len(outputs)} block(s) match a fresh run", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
