#!/usr/bin/env bash
# Runs the whole test suite on a fresh Debian machine: installs the database servers and the
# browser from Debian's packages when they are missing, the Python packages with pip, then pytest.
# Extra arguments go to pytest (e.g. `scripts/test.sh -k recording -x`); VENOM_TEST_PROCESSES=1 runs it in
# one process.
set -euo pipefail
cd "$(dirname "$0")/.."

missing=()
ls /usr/lib/postgresql/*/bin/pg_ctl >/dev/null 2>&1 || missing+=(postgresql)
[ -x /usr/sbin/mariadbd ] || command -v mariadbd >/dev/null 2>&1 || missing+=(mariadb-server)
command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
command -v chromium >/dev/null 2>&1 || missing+=(chromium)
if [ ${#missing[@]} -gt 0 ]; then
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    echo "installing from Debian's packages: ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

python3 -m pip install -q --disable-pip-version-check -e ".[test]"
# Two processes (pytest-xdist), each test file on one: each starts its own database servers.
exec python3 -m pytest -n "${VENOM_TEST_PROCESSES:-2}" --dist loadfile "$@"
