#!/usr/bin/env bash
# Refresh the vendored browser libraries under web/static/vendor/ from the npm registry (`npm pack`).
# Needs npm only here, never at run time: the app serves the committed files as they are.
# Versions are pinned below; change one, run this, look at the diff, commit. See web/static/vendor/VENDORED.md.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
OUT="$PWD/web/static/vendor"
WORK="$(mktemp -d)"
trap 'rm -rf "$WORK"' EXIT

PREACT=11.2.0
HTM=3.1.1
MARKED=18.2.1
DOMPURIFY=3.4.18
UPLOT=1.6.31

unpack() { # name@version -> directory with the package contents
    (cd "$WORK" && npm pack --silent "$1" >/dev/null)
    local tgz
    tgz="$(ls "$WORK"/*.tgz)"
    mkdir -p "$WORK/$2" && tar xzf "$tgz" -C "$WORK/$2" && rm "$tgz"
}

# Source-map comments point at files we do not ship: drop them so no tool asks for a missing file.
copy() { sed -e '/^\/\/# sourceMappingURL=/d' -e 's#//\# sourceMappingURL=[^ ]*$##' "$1" >"$OUT/$2"; }

unpack "preact@$PREACT" preact
copy "$WORK/preact/package/dist/preact.mjs" preact.mjs
# hooks imports the bare specifier "preact", which browsers resolve only through an import map (an inline
# script our CSP forbids): point it at the file next to it instead. This is the only change to any library.
sed -e 's#from"preact"#from"./preact.mjs"#g' "$WORK/preact/package/hooks/dist/hooks.mjs" |
    sed -e '/^\/\/# sourceMappingURL=/d' >"$OUT/preact-hooks.mjs"
cp "$WORK/preact/package/LICENSE" "$OUT/LICENSE.preact"

unpack "htm@$HTM" htm
copy "$WORK/htm/package/dist/htm.mjs" htm.mjs
cp "$WORK/htm/package/LICENSE" "$OUT/LICENSE.htm"

unpack "marked@$MARKED" marked
copy "$WORK/marked/package/lib/marked.esm.js" marked.mjs
cp "$WORK/marked/package/LICENSE.md" "$OUT/LICENSE.marked" 2>/dev/null || cp "$WORK/marked/package/LICENSE" "$OUT/LICENSE.marked"

unpack "dompurify@$DOMPURIFY" dompurify
copy "$WORK/dompurify/package/dist/purify.es.mjs" purify.mjs
cp "$WORK/dompurify/package/LICENSE" "$OUT/LICENSE.dompurify"
cp "$WORK/dompurify/package/LICENSE-MPL" "$OUT/LICENSE-MPL.dompurify"

# uPlot: the ops console's charts (canvas, ~50 KB minified; CSSOM styles only, so the strict CSP holds).
unpack "uplot@$UPLOT" uplot
copy "$WORK/uplot/package/dist/uPlot.esm.js" uplot.mjs
copy "$WORK/uplot/package/dist/uPlot.min.css" uplot.min.css
cp "$WORK/uplot/package/LICENSE" "$OUT/LICENSE.uplot"

(cd "$OUT" && sha256sum preact.mjs preact-hooks.mjs htm.mjs marked.mjs purify.mjs uplot.mjs uplot.min.css >SHA256SUMS)
echo "vendored: preact $PREACT, htm $HTM, marked $MARKED, dompurify $DOMPURIFY, uplot $UPLOT -> $OUT"
