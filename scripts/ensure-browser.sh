#!/usr/bin/env bash
# Debian's Chromium and a CJK font for the browser tests (Playwright drives /usr/bin/chromium;
# it never downloads a browser of its own). Idempotent.
set -euo pipefail
missing=()
[ -x /usr/bin/chromium ] || missing+=(chromium)
fc-list 2>/dev/null | grep -qi "Noto Sans CJK" || missing+=(fonts-noto-cjk)
if [ ${#missing[@]} -gt 0 ]; then
  echo "installing ${missing[*]} (Debian packages)…"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq "${missing[@]}" >/dev/null
fi
echo "Chromium ready: $(/usr/bin/chromium --version)"
