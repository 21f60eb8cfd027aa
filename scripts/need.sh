#!/usr/bin/env bash
# scripts/need.sh COMMAND=DEBIAN_PACKAGE ...: install from Debian's packages what this machine lacks.
# Used by `make demo`, `make up` (redis-server for the Enigma demo) and `make test` (also php-cli and chromium).
set -euo pipefail

apt_updated=""
for pair in "$@"; do
    cmd=${pair%%=*}
    pkg=${pair#*=}
    command -v "$cmd" >/dev/null 2>&1 && continue
    echo "need: '$cmd' is missing; installing Debian package $pkg"
    sudo=""
    if [ "$(id -u)" -ne 0 ]; then
        if command -v sudo >/dev/null 2>&1; then sudo="sudo"; else
            echo "need: cannot install $pkg without root or sudo: run 'apt-get install $pkg' and retry" >&2
            exit 1
        fi
    fi
    if ! command -v apt-get >/dev/null 2>&1; then
        echo "need: no apt-get on this machine: install $pkg (it provides '$cmd') and retry" >&2
        exit 1
    fi
    if [ -z "$apt_updated" ]; then $sudo apt-get update -qq; apt_updated=1; fi
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$pkg" >/dev/null
    command -v "$cmd" >/dev/null 2>&1 || { echo "need: installing $pkg did not provide '$cmd'" >&2; exit 1; }
done
