# shellcheck shell=bash
# Shared set-up for scripts/run and scripts/test.

# ensure_venv EXTRAS: a virtualenv in .venv with this package installed (editable)
# with the given extras; reinstalls only when pyproject.toml changed.
ensure_venv() {
  local extras=$1 stamp=.venv/.installed-$1
  if [ ! -x .venv/bin/python ]; then
    python3 -m venv .venv
  fi
  if [ ! -f "$stamp" ] || [ pyproject.toml -nt "$stamp" ]; then
    echo "== installing python packages (.[${extras}]) into .venv"
    local t0=$SECONDS
    .venv/bin/python -m pip install -q --disable-pip-version-check --upgrade pip
    # pip byte-compiles what it installs one file at a time (sympy alone is ~1,500 files);
    # compileall on every core after it takes 23 s where pip's own takes 50 (2 cores).
    # Leaving it to the imports was tried: the four test workers then compile the same
    # modules at once, and the suite took longer (9 m 20 s against 8 m 43 s, one run each).
    .venv/bin/python -m pip install -q --no-compile --disable-pip-version-check -e ".[${extras}]"
    .venv/bin/python -m compileall -q -j 0 "$(.venv/bin/python -c 'import sysconfig; print(sysconfig.get_paths()["purelib"])')" >/dev/null
    echo "== pip install took $((SECONDS - t0))s"
    touch "$stamp"
  fi
}

# ensure_debian_packages PKG...: apt-get install what is missing (needs root or sudo).
ensure_debian_packages() {
  local missing=()
  for p in "$@"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
  done
  [ ${#missing[@]} -eq 0 ] && return 0
  local sudo=()
  if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null; then sudo=(sudo); else
      echo "error: need root (or sudo) to apt-get install ${missing[*]}" >&2; return 1
    fi
  fi
  echo "== apt-get install ${missing[*]}"
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get update -qq
  "${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
}

# ensure_node_packages: the Node packages of tests/support/package.json, at the versions its
# package-lock.json pins, in .cache/node (npm ci); reinstalls only when the lock file changed.
ensure_node_packages() {
  local dir=.cache/node stamp=.cache/node/.installed
  if [ ! -f "$stamp" ] || [ tests/support/package-lock.json -nt "$stamp" ]; then
    if ! command -v npm >/dev/null; then
      echo "error: npm is needed to install tests/support/package.json (apt-get install npm)" >&2
      return 1
    fi
    echo "== installing node packages (tests/support/package.json) into $dir"
    mkdir -p "$dir"
    cp tests/support/package.json tests/support/package-lock.json "$dir"/
    npm ci --prefix "$dir" --no-audit --no-fund --loglevel=error
    touch "$stamp"
  fi
}
