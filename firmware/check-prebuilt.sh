#!/usr/bin/env bash
# CI: fail if firmware/prebuilt/ is not what the sources in firmware/ build
# to (byte for byte), or if an INSTRUCTIONS list is stale.
# Needs Debian's gcc-aarch64-linux-gnu (see firmware/prebuilt/TOOLCHAIN.txt).
set -euo pipefail

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$repo_root"
make -C firmware check
