#!/usr/bin/env bash
# Refresh the vendored front-end files from the npm registry (see static/vendor/README.md).
set -euo pipefail
cd "$(dirname "$0")/.."
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent htmx.org@2.0.11 @picocss/pico@2.1.1 > /dev/null)
tar xzf "$tmp"/htmx.org-2.0.11.tgz -C "$tmp" package/dist/htmx.min.js package/LICENSE
cp "$tmp"/package/dist/htmx.min.js static/vendor/htmx/htmx.min.js
cp "$tmp"/package/LICENSE static/vendor/htmx/LICENSE
rm -rf "$tmp"/package
tar xzf "$tmp"/picocss-pico-2.1.1.tgz -C "$tmp" package/css/pico.min.css package/LICENSE.md
cp "$tmp"/package/css/pico.min.css static/vendor/pico/pico.min.css
cp "$tmp"/package/LICENSE.md static/vendor/pico/LICENSE.md
echo "vendored htmx 2.0.11 and Pico CSS 2.1.1"
