#!/usr/bin/env bash
# Installs the Debian tools the tests use as independent real peers: kcat (Kafka client) and
# prometheus (promtool and the server). Does nothing when they are already present.
set -euo pipefail
missing=()
command -v kcat >/dev/null || missing+=(kcat)
command -v promtool >/dev/null || missing+=(prometheus)
[ ${#missing[@]} -eq 0 ] && exit 0
if [ "$(id -u)" -eq 0 ]; then sudo=""; elif command -v sudo >/dev/null; then sudo="sudo"; else
  echo "install-system-tools: need root or sudo to install: ${missing[*]}" >&2; exit 1
fi
echo "installing Debian packages: ${missing[*]}" >&2
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
