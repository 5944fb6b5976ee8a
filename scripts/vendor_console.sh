#!/usr/bin/env bash
# Refresh the web console's vendored front-end libraries from the npm registry (pinned versions).
# The console has no build step: the files land in clara_ray/console/static/vendor/ and are committed,
# so nothing is fetched at run time. Run this only to upgrade them.
set -euo pipefail
cd "$(dirname "$0")/.."
HTM=3.1.1 UPLOT=1.6.32
dest=clara_ray/console/static/vendor
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm init -y >/dev/null && npm install --no-audit --no-fund "htm@$HTM" "uplot@$UPLOT" >/dev/null)
m="$tmp/node_modules"
cp "$m/htm/preact/standalone.mjs" "$dest/preact-htm.mjs"   # Preact + hooks + htm in one ES module
cp "$m/uplot/dist/uPlot.esm.js" "$dest/uplot.mjs"
cp "$m/uplot/dist/uPlot.min.css" "$dest/uplot.css"
cp "$m/htm/LICENSE" "$dest/LICENSE.htm"
cp "$m/uplot/LICENSE" "$dest/LICENSE.uplot"
printf 'htm %s (bundles Preact)\nuplot %s\n' "$HTM" "$UPLOT" > "$dest/VERSIONS"
echo "vendored into $dest:"; ls -l "$dest"
