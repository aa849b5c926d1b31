#!/usr/bin/env bash
# venv.sh: the project's virtual environment in .venv, exactly as uv.lock says (every package
# pinned, with its hashes): orderstate (editable), its dependencies and the test and lint
# groups. That is all `make test-unit`, `make test-contract`, `make lint` and `make fmt` need:
# no Java, Maven or Kafka jars. A Python >= 3.11 of the machine is used (PYTHON=... picks
# one); uv never downloads an interpreter.
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

require_python
ensure_uv
cd "$ORDERSTATE_ROOT"
say "installing the packages of uv.lock into .venv with Python $PYTHON_VERSION ($PYTHON_BIN) ..."
# --locked: a pyproject.toml whose dependencies changed without `make lock` fails here instead
# of installing something nobody reviewed. --compile-bytecode: the packages are byte-compiled
# once here, not at every start of every process (every test that starts a worker, the
# benchmarks), which matters where PYTHONDONTWRITEBYTECODE is set (bench/results-startup.md).
"$UV" sync --locked --all-groups --compile-bytecode --python "$PYTHON_BIN" ||
  die "uv sync failed (output above)." \
    "If it says the lockfile needs to be updated: run make lock and commit uv.lock."
