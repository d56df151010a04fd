#!/bin/sh
# Install the scoring appliance from this bundle, offline.
#
#   ./install.sh --prefix /opt/appliance --home /var/lib/appliance [--enable-service]
#
# Every file is checked against MANIFEST.sha256 before anything is touched; then a
# virtual environment is created under PREFIX/versions/VERSION from the wheels in
# wheelhouse/ (pip --no-index), the data home is laid out or migrated, the service unit
# is written, a self-test runs, and PREFIX/current is switched to the new version.
# PYTHON picks the interpreter (default python3); it must match the bundle's version.
# `./install.sh --help` lists every option.
set -eu

here=$(CDPATH='' cd -- "$(dirname -- "$0")" && pwd)
python=${PYTHON:-python3}

if ! command -v "$python" >/dev/null 2>&1; then
    echo "install.sh: $python not found; install Python 3 with venv (Debian: apt-get install python3 python3-venv) or set PYTHON" >&2
    exit 22
fi

if command -v sha256sum >/dev/null 2>&1; then
    if ! (cd "$here" && sha256sum --quiet --strict -c MANIFEST.sha256 >&2); then
        echo "install.sh: the bundle does not match MANIFEST.sha256 (the files named above); nothing was installed" >&2
        exit 21
    fi
fi

# -I: ignore PYTHONPATH and user site-packages; -B: write no bytecode into the bundle.
exec "$python" -I -B -c 'import sys; sys.path.insert(0, sys.argv[1]); from installer.__main__ import main; sys.exit(main(sys.argv[2:]))' \
    "$here" install "$here" "$@"
