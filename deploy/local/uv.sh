#!/usr/bin/env bash
# uv.sh ARGS...: the project's pinned uv (installed on first use), run in the repository root.
#   deploy/local/uv.sh lock             uv.lock after a change of pyproject.toml (make lock)
#   deploy/local/uv.sh lock --upgrade   every package to the newest version pyproject.toml
#                                       allows (make lock-upgrade)
set -euo pipefail
# shellcheck source-path=SCRIPTDIR
# shellcheck source=lib.sh
source "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

ensure_uv
cd "$ORDERSTATE_ROOT"
exec "$UV" "$@"
