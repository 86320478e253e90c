#!/usr/bin/env bash
# Install the test dependencies (Debian's chromium included, when missing) and run the whole test suite.
# Extra arguments go to pytest, e.g. `bash scripts/test.sh -k io`.
set -euo pipefail
cd "$(dirname "$0")/.."

python -m pip install --quiet --disable-pip-version-check -e ".[test]"

if [ ! -x /usr/bin/chromium ]; then
  echo "Installing Debian's chromium for the dashboard browser tests …"
  SUDO=""
  if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq chromium >/dev/null
fi

exec python -m pytest "$@"
