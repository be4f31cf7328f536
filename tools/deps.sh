#!/usr/bin/env bash
# make deps: installs every Debian package the build, the demo and the
# tests need, and the npm tools the tests use. Idempotent; quiet when all
# is there.
set -euo pipefail
cd "$(dirname "$0")/.."

pkgs=(
  # build
  build-essential pkg-config clang clang-format
  libsystemd-dev libjansson-dev libssl-dev libcrypt-dev
  libmicrohttpd-dev libgnutls28-dev libcurl4-openssl-dev
  libcoap3-dev libmosquitto-dev mosquitto-dev
  # tests
  libcmocka-dev libclang-rt-14-dev mandoc systemd
  curl openssl jq python3 libcoap3-bin mosquitto mosquitto-clients
  nodejs npm chromium
  # benchmarks
  nginx-light wrk
)
missing=()
for p in "${pkgs[@]}"; do
  # nodejs/npm may come from elsewhere (a newer Node.js): accept the commands
  case $p in
    nodejs) command -v node >/dev/null && continue ;;
    npm) command -v npm >/dev/null && continue ;;
  esac
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "deps: installing ${missing[*]}"
  sudo=; [ "$(id -u)" -eq 0 ] || sudo=sudo
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi
# npm test tools (versions pinned by each package-lock.json)
for d in tests/node tests/node/*/; do
  d=${d%/}
  [ -f "$d/package.json" ] || continue
  if [ ! -d "$d/node_modules" ] || [ "$d/package-lock.json" -nt "$d/node_modules" ]; then
    echo "deps: npm install in $d"
    npm --prefix "$d" ci --no-audit --no-fund --loglevel=error >/dev/null
    touch "$d/node_modules"
  fi
done
