#!/usr/bin/env bash
# Install, from the OS packages, what the machine lacks for one purpose:
#   scripts/system-packages.sh [test]   Chromium for the browser tests, PostgreSQL for the
#                                       database tests, Prometheus Alertmanager as a real peer,
#                                       Prometheus to scrape /metrics, Redis for shared rate
#                                       limits, and what `pdf` installs (the tests render PDFs)
#   scripts/system-packages.sh pdf      pango and a font, which WeasyPrint needs for post-mortem PDFs
#   scripts/system-packages.sh bench    wrk, the load generator `make bench` drives
#   scripts/system-packages.sh prod     Caddy, the TLS proxy of `make prod-check`
# Each package is checked by the binary it brings, so an installed one is never touched.
set -euo pipefail
purpose="${1:-test}"
missing=()
pdf_packages() {
  ldconfig -p 2> /dev/null | grep -q 'libpango-1.0.so.0' || missing+=(libpango-1.0-0)
  ldconfig -p 2> /dev/null | grep -q 'libpangoft2-1.0.so.0' || missing+=(libpangoft2-1.0-0)
  [ -e /usr/share/fonts/truetype/dejavu/DejaVuSans.ttf ] || missing+=(fonts-dejavu-core)
}
case "$purpose" in
  pdf)
    pdf_packages
    ;;
  test)
    pdf_packages
    [ -x /usr/bin/chromium ] || missing+=(chromium)
    compgen -G "/usr/lib/postgresql/*/bin/initdb" > /dev/null || missing+=(postgresql)
    [ -x /usr/bin/prometheus-alertmanager ] || missing+=(prometheus-alertmanager)
    [ -x /usr/bin/prometheus ] || missing+=(prometheus)
    [ -x /usr/bin/redis-server ] || missing+=(redis-server)
    ;;
  prod)
    [ -x /usr/bin/caddy ] || missing+=(caddy)
    ;;
  bench)
    command -v wrk > /dev/null || missing+=(wrk)
    ;;
  *)
    echo "usage: $0 [test|pdf|bench|prod]" >&2
    exit 2
    ;;
esac
if [ ${#missing[@]} -eq 0 ]; then
  exit 0
fi
echo "Installing from the OS packages: ${missing[*]}"
sudo=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo > /dev/null || { echo "Need root (or sudo) to install ${missing[*]}" >&2; exit 1; }
  sudo="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq || true
# The Debian packages of daemons start their service on install where an init system
# runs; the tests start their own instances, so the packaged one is stopped again.
$sudo apt-get install -y -qq "${missing[@]}" > /dev/null
started_by() {  # the services a package starts on install
  case "$1" in
    prometheus) echo prometheus prometheus-node-exporter ;;
    prometheus-alertmanager | redis-server | caddy) echo "$1" ;;
  esac
}
if command -v systemctl > /dev/null; then
  for package in "${missing[@]}"; do
    for service in $(started_by "$package"); do
      if systemctl is-active --quiet "$service" 2> /dev/null; then
        $sudo systemctl stop "$service" || true
        $sudo systemctl disable --quiet "$service" || true
      fi
    done
  done
fi
