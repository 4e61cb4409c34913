#!/usr/bin/env bash
# Installs Debian's chromium (used by the headless-browser report test) when it is missing and we are root.
# Elsewhere it does nothing; the browser test then skips and prints why.
if command -v chromium >/dev/null 2>&1; then exit 0; fi
if [ "$(id -u)" = "0" ] && command -v apt-get >/dev/null 2>&1; then
  echo "installing chromium for the headless report test (apt-get)..."
  (apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver >/dev/null) \
    || echo "warning: could not install chromium; the browser test will be skipped"
else
  echo "chromium not found and not root: the headless-browser report test will be skipped"
fi
exit 0
