#!/usr/bin/env bash
# Installs the Debian 12 packages that building and testing Elephant need.
# Idempotent: when every package is already installed it does nothing (no apt-get update).
set -euo pipefail
packages=(
  build-essential cmake ninja-build pkg-config python3
  nlohmann-json3-dev libfmt-dev libcli11-dev libgtest-dev libgmock-dev
  libpcre2-dev libutf8proc-dev libsentencepiece-dev
  libopenblas-dev
  libcpp-httplib-dev
)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "setup: installing ${missing[*]}" >&2
sudo_cmd=()
[ "$(id -u)" -eq 0 ] || sudo_cmd=(sudo)
"${sudo_cmd[@]}" apt-get update -qq
DEBIAN_FRONTEND=noninteractive "${sudo_cmd[@]}" apt-get install -y -qq --no-install-recommends "${missing[@]}"
