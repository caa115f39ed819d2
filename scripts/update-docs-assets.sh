#!/usr/bin/env bash
# Vendors the Swagger UI and ReDoc browser bundles into sandkasten_py/api/static/.
#
# The copied files are committed, so the service serves its API docs pages
# without npm and without any network access. Run this only to change the
# pinned versions below; review the diff of static/ like any other change.
#
# redoc stays on 2.x on purpose: the 3.x standalone bundle reports telemetry
# to a Redocly host, and its npm dependencies do not resolve.
set -euo pipefail

SWAGGER_UI_VERSION="5.35.0"
REDOC_VERSION="2.5.4"

repo_root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
static_dir="$repo_root/sandkasten_py/api/static"

work_dir="$(mktemp -d)"
trap 'rm -rf "$work_dir"' EXIT

# A package.json of its own keeps npm from walking up into some parent project.
printf '{"name": "sandkasten-docs-assets", "private": true}\n' >"$work_dir/package.json"
# --ignore-scripts: we only want files out of the tarballs, never to run their
# install hooks. --legacy-peer-deps: redoc's peers (react, ...) are already
# inside its standalone bundle, so installing them would only cost time.
npm install --prefix "$work_dir" --save-exact --ignore-scripts --legacy-peer-deps \
    --no-audit --no-fund --loglevel=error \
    "swagger-ui-dist@$SWAGGER_UI_VERSION" "redoc@$REDOC_VERSION"

modules="$work_dir/node_modules"

# Fail loudly if npm resolved anything other than the pinned versions.
check_version() {
    local package="$1" wanted="$2" got
    got="$(node -p "require(process.argv[1]).version" "$modules/$package/package.json")"
    if [[ "$got" != "$wanted" ]]; then
        echo "error: $package is $got, expected $wanted" >&2
        exit 1
    fi
}
check_version swagger-ui-dist "$SWAGGER_UI_VERSION"
check_version redoc "$REDOC_VERSION"

# Copy into a fresh directory first so a failure leaves static/ untouched.
new_dir="$work_dir/static"
mkdir -p "$new_dir/swagger-ui" "$new_dir/redoc"

# swagger-ui-bundle.js carries its presets; the standalone preset (top bar)
# and the source maps are not needed.
for file in swagger-ui-bundle.js swagger-ui-bundle.js.LICENSE.txt swagger-ui.css LICENSE NOTICE; do
    cp "$modules/swagger-ui-dist/$file" "$new_dir/swagger-ui/$file"
done
for file in bundles/redoc.standalone.js bundles/redoc.standalone.js.LICENSE.txt LICENSE; do
    cp "$modules/redoc/$file" "$new_dir/redoc/$(basename "$file")"
done

# Provenance: what was copied, from which tarball (npm's integrity hash).
integrity() {
    node -p "require(process.argv[1]).packages['node_modules/' + process.argv[2]].integrity" \
        "$work_dir/package-lock.json" "$1"
}
cat >"$new_dir/VENDORED.txt" <<TXT
Third-party files copied from npm by scripts/update-docs-assets.sh. Do not edit by hand.

swagger-ui/  swagger-ui-dist@$SWAGGER_UI_VERSION  (Apache-2.0, see swagger-ui/LICENSE and NOTICE)
             $(integrity swagger-ui-dist)
redoc/       redoc@$REDOC_VERSION  (MIT, see redoc/LICENSE)
             $(integrity redoc)

The *.LICENSE.txt files list the licenses of the code bundled into each file.
TXT

rm -rf "$static_dir"
mkdir -p "$(dirname "$static_dir")"
cp -R "$new_dir" "$static_dir"

echo "vendored swagger-ui-dist@$SWAGGER_UI_VERSION and redoc@$REDOC_VERSION into $static_dir"
du -ab "$static_dir" | sort -k2
