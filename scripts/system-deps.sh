#!/usr/bin/env bash
# Debian packages the tests use for real parts: a PostgreSQL server (the store's PostgreSQL
# test) and Chromium (the review sheet's browser tests, driven by Playwright; never
# `playwright install`). Installs what is missing when run as root with apt-get; otherwise says what the tests
# will skip. Never fails the build: tests that need a missing part skip with a reason.
set -u
want=()
ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 || want+=(postgresql)
[ -x /usr/bin/chromium ] || want+=(chromium)
[ ${#want[@]} -eq 0 ] && exit 0
if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null; then
  echo "system-deps: installing ${want[*]} (Debian packages)"
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${want[@]}") \
    >/tmp/zipcast-system-deps.log 2>&1 \
    || echo "system-deps: could not install ${want[*]}; see /tmp/zipcast-system-deps.log"
else
  echo "system-deps: missing ${want[*]}; tests that need them will be skipped"
fi
exit 0
