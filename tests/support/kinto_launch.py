"""Start Kinto on a given database and port: the command `explore --api-cmd` runs for each replica.

    python -m support.kinto_launch --db postgresql://... --port 8001 [--accounts]

(with tests/ on PYTHONPATH). The ini file goes to a temporary folder; the process becomes Kinto
(exec), so stopping it stops Kinto.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
from pathlib import Path

from support.fixtures_kinto import ACCOUNTS_AUTH, BASIC_AUTH, KINTO_INI, _kinto_cli


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m support.kinto_launch")
    parser.add_argument("--db", required=True, help="postgresql:// URL of Kinto's (migrated) database")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--accounts", action="store_true", help="load Kinto's accounts plugin")
    args = parser.parse_args()
    ini = Path(tempfile.mkdtemp(prefix="kinto-replica-")) / "kinto.ini"
    ini.write_text(KINTO_INI.format(db_url=args.db, auth=ACCOUNTS_AUTH if args.accounts else BASIC_AUTH))
    os.environ["PYTHONWARNINGS"] = "ignore"
    cli = _kinto_cli()
    os.execv(cli[0], [*cli, "start", "--ini", str(ini), "--port", str(args.port)])


if __name__ == "__main__":
    sys.exit(main())
