#!/usr/bin/env bash
# Set up everything `make demo` and `make test` need on a Debian/Ubuntu machine, idempotently:
# Debian packages (PostgreSQL + PostGIS, GDAL tools, Chromium), then a virtualenv with the
# project and its demo and dev extras.
# Re-running it when nothing changed does nothing but check.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=${VENV:-.venv}
PYTHON=${PYTHON:-python3}

sudo_cmd() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else
    echo "bootstrap: need root (or sudo) to install: $*" >&2; exit 1; fi
}

pg_major() {
  # Version of the PostgreSQL server packages Debian would install (e.g. 15 on bookworm).
  if ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then
    ls /usr/lib/postgresql | sort -n | tail -1
  else
    apt-cache depends postgresql 2>/dev/null | sed -n 's/.*Depends: postgresql-\([0-9]*\)$/\1/p' | head -1
  fi
}

need_apt=()
have_postgis() { ls /usr/share/postgresql/*/extension/postgis.control >/dev/null 2>&1; }
command -v apt-get >/dev/null || { echo "bootstrap: this script supports Debian/Ubuntu (apt-get)" >&2; exit 1; }
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || need_apt+=(postgresql postgresql-contrib)
command -v ogr2ogr >/dev/null || need_apt+=(gdal-bin)
# Headless Chromium opens the HTML report in tests and takes the README's screenshot of it.
command -v chromium >/dev/null || need_apt+=(chromium)
"$PYTHON" -c 'import venv, ensurepip' 2>/dev/null || need_apt+=(python3-venv)
if [ ${#need_apt[@]} -gt 0 ] || ! have_postgis; then
  echo "bootstrap: installing Debian packages…"
  export DEBIAN_FRONTEND=noninteractive
  sudo_cmd apt-get update -qq
  [ ${#need_apt[@]} -gt 0 ] && sudo_cmd apt-get install -y -qq --no-install-recommends "${need_apt[@]}" >/dev/null
  major=$(pg_major)
  have_postgis || sudo_cmd apt-get install -y -qq --no-install-recommends "postgresql-${major}-postgis-3" >/dev/null
fi

"$PYTHON" - <<'PY'
import sys
if sys.version_info < (3, 11):
    sys.exit(f"bootstrap: Python >= 3.11 needed, found {sys.version.split()[0]}")
PY

stamp="$VENV/.installed"
if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
  echo "bootstrap: installing the project into $VENV…"
  [ -x "$VENV/bin/python" ] || "$PYTHON" -m venv "$VENV"
  "$VENV/bin/python" -m pip install -q --upgrade pip
  "$VENV/bin/python" -m pip install -q -e '.[demo,dev]'
  touch "$stamp"
fi

# checkov (static security scan of terraform/, run by the test suite) pins old versions of
# boto3, packaging and others; it gets a virtualenv of its own so the project's stay current.
scan="$VENV/scan"
if [ ! -x "$scan/bin/checkov" ] || [ pyproject.toml -nt "$scan/.installed" ]; then
  echo "bootstrap: installing checkov into $scan…"
  [ -x "$scan/bin/python" ] || "$PYTHON" -m venv "$scan"
  spec=$("$VENV/bin/python" - <<'PY'
import tomllib
extra = tomllib.load(open("pyproject.toml", "rb"))["project"]["optional-dependencies"]["scan"]
print(" ".join(extra))
PY
)
  "$scan/bin/python" -m pip install -q $spec
  touch "$scan/.installed"
fi
