# Sourced by the set-up scripts (install-deps.sh, test.sh): makes `python3` one
# where pip may install. Debian 12's system Python is "externally managed" (PEP 668) and refuses
# `pip install`; there the Python packages go into .venv/ at the repository root (created once,
# the system's packages visible through it), and .venv/bin is put first on PATH for the rest of
# the calling script, so that pip, pytest, ctest's command tests and `dlnflow plot` all use it.
# An active virtual environment, or a Python that allows pip, is used as it is.
dlnflow_python_env() {
  local root
  root="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
  [ -z "${VIRTUAL_ENV:-}" ] || return 0
  if [ -x "$root/.venv/bin/python3" ]; then
    export VIRTUAL_ENV="$root/.venv" PATH="$root/.venv/bin:$PATH"
    return 0
  fi
  command -v python3 >/dev/null || return 0
  python3 - <<'EOF' || return 0
import os, sys, sysconfig
sys.exit(0 if os.path.isfile(os.path.join(sysconfig.get_paths()["stdlib"], "EXTERNALLY-MANAGED")) else 1)
EOF
  echo "dlnflow: this Python is externally managed (PEP 668): its packages go into $root/.venv" \
       "(activate it with '. .venv/bin/activate' to use dlnflow from Python)" >&2
  python3 -m venv --system-site-packages "$root/.venv"
  export VIRTUAL_ENV="$root/.venv" PATH="$root/.venv/bin:$PATH"
}
dlnflow_python_env
