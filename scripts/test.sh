#!/usr/bin/env bash
# Lint, then the whole test suite (Lava tests run serially inside pytest).
set -euo pipefail
cd "$(dirname "$0")/.."
ruff check .
python -m pytest "$@"
