"""The `venom-replay` command line: a thin layer that parses arguments and calls library functions.

Each command lives in its own module under ``replay/commands/`` and is imported only when it runs,
so ``--help`` stays fast (mitmproxy alone takes a second to import).
"""

from __future__ import annotations

import importlib
import sys
import click

from venom_replay.proxy.errors import VenomError

# name -> (module under venom_replay.replay.commands, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "demo": ("demo", "demo", "Run the whole pipeline on a bundled shop API with planted bugs."),
    "record": ("record", "record", "Record traffic through a proxy in front of an API."),
    "import": ("import_cmd", "import_cmd", "Convert a HAR file or a mitmproxy flow dump into a recording."),
    "show": ("show", "show", "Summarise a recording: exchanges, sessions, endpoints, status codes."),
    "templates": ("templates", "templates", "Print the action templates and value bindings learned from a recording."),
    "invariants": ("invariants", "invariants", "Print the likely invariants learned from a recording."),
    "graph": ("graph", "graph", "Export the transition graph, or list unseen orderings."),
    "openapi": ("openapi", "openapi", "Write an OpenAPI 3.1 document learned from a recording."),
    "explore": ("explore", "explore", "Run unseen orderings against the live API and report sequence bugs."),
    "reproduce": ("reproduce", "reproduce", "Replay one finding step by step, or emit it as pytest or curl."),
    "db": ("db", "db", "Check, recover or uninstall the database rollback machinery."),
}


class LazyGroup(click.Group):
    def list_commands(self, ctx: click.Context) -> list[str]:
        return [name for name, (module, _, _) in COMMANDS.items() if _module_exists(module)]

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        entry = COMMANDS.get(cmd_name)
        if entry is None or not _module_exists(entry[0]):
            return None
        module = importlib.import_module(f"venom_replay.replay.commands.{entry[0]}")
        return getattr(module, entry[1])

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Short help from the table, without importing every command module.
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        if rows:
            with formatter.section("Commands"):
                formatter.write_dl(rows)


def _module_exists(module: str) -> bool:
    return importlib.util.find_spec(f"venom_replay.replay.commands.{module}") is not None


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="venom-replay")
def cli() -> None:
    """venom-replay: find bugs that hide in sequences of API calls.

    Record real traffic, learn action templates and their value bindings, build the transition
    graph, then explore the orderings that were never seen against the live API, rolling the
    database back between branches.
    """


def main(argv: list[str] | None = None) -> None:
    """Entry point: known errors print one line on stderr and exit 2, never a traceback."""
    try:
        rv = cli.main(args=argv, prog_name="venom-replay", standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except VenomError as exc:  # AdapterError and the other known errors are subclasses
        click.echo(f"error: {exc}", err=True)
        sys.exit(2)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    sys.exit(rv if isinstance(rv, int) else 0)


if __name__ == "__main__":
    main()
