#!/usr/bin/env bash
# test/demo/screenshot.sh -- `make demo-screenshot`: render the demo's report
# in a real browser (Debian's headless Chromium) to a PNG, to look at.
#
# Usage: bash test/demo/screenshot.sh [REPORT_DIR] [OUT.png]
#   REPORT_DIR  default demo-report (run `make demo` first)
#   OUT.png     default REPORT_DIR/screenshot.png
#
# Installs the chromium package when missing (as root; it is large, so it
# is not in `make test`'s PAYCONS_PACKAGES).  The page needs no network:
# Chromium runs with networking features off and a throwaway profile.
set -euo pipefail

REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
DIR=$(realpath "${1:-$REPO/demo-report}")
OUT=${2:-$DIR/screenshot.png}

if [[ ! -f $DIR/index.html ]]; then
	echo "no $DIR/index.html: run make demo first" >&2
	exit 1
fi
# Debian's chromium through the same machinery as every other package
# (test/lib.sh: installed as root, else the apt-get line to run is printed);
# its own list, so that `make test` and `make demo` never pull it in.
# shellcheck source=test/lib.sh
source "$REPO/test/lib.sh"
PAYCONS_PACKAGES=(chromium)
paycons_ensure_packages || exit 1

PROFILE=$(mktemp -d)
trap 'rm -rf "$PROFILE"' EXIT
# --no-sandbox: Chromium refuses to run as root with its sandbox
chromium --headless --no-sandbox --disable-gpu --disable-quic --no-first-run \
	--disable-background-networking --disable-component-update --disable-sync \
	--hide-scrollbars --user-data-dir="$PROFILE" --window-size=1200,2400 \
	--screenshot="$OUT" "file://$DIR/index.html" 2>"$PROFILE/chromium.log" || {
	cat "$PROFILE/chromium.log" >&2
	exit 1
}
echo "screenshot: $OUT"
