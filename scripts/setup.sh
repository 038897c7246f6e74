#!/usr/bin/env bash
# Installs the Debian 12 packages that building and testing Elephant need, and the Python virtual
# environment <repo>/.venv with the official `openai` client that tests/server/openai_client_test.py
# drives `elephant serve` with.
# Idempotent: packages already installed are not touched (no apt-get update), nor is a .venv that
# already has the pinned openai version. Arguments are further packages to install (scripts/fuzz.sh
# asks for clang and its libFuzzer runtime this way).
set -euo pipefail
root=$(cd "$(dirname "$0")/.." && pwd)
openai_version=3.54.0
packages=(
  build-essential cmake ninja-build pkg-config python3 python3-venv python3-pip
  nlohmann-json3-dev libfmt-dev libcli11-dev libgtest-dev libgmock-dev
  libpcre2-dev libutf8proc-dev libsentencepiece-dev
  libopenblas-dev
  libcpp-httplib-dev
  "$@"
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}" >&2
  sudo_cmd=()
  [ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
  "${sudo_cmd[@]}" apt-get update -qq
  DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

# Debian's interpreter by its full path: a python3 earlier on PATH (pyenv, conda) may lack venv.
venv="$root/.venv"
if ! "$venv/bin/python" -c "import importlib.metadata as m, sys; sys.exit(m.version('openai') != '$openai_version')" \
  2>/dev/null; then
  echo "setup: creating $venv with openai==$openai_version" >&2
  [ -x "$venv/bin/python" ] || /usr/bin/python3 -m venv "$venv"
  "$venv/bin/python" -m pip install --quiet --disable-pip-version-check "openai==$openai_version"
fi
