#!/bin/sh
# deps.sh GROUP... - install the Debian packages a make target needs.
# Installs what is missing when run as root (or with passwordless sudo);
# otherwise prints the exact command and fails for required groups, or
# just reports for optional ones (bench peers).
#   test    Criterion, clang, pkg-config and cmake (required by make test)
#   bench   benchmark peers and tools (optional: missing ones are skipped)
#   extra   packages for examples and real-program tests (optional)
set -u
required=0
pkgs=""
for g in "$@"; do
  case "$g" in
    test)  pkgs="$pkgs libcriterion-dev clang libclang-rt-dev pkg-config cmake"; required=1 ;;
    bench) pkgs="$pkgs libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev libtalloc-dev libapr1-dev gnuplot-nox valgrind" ;;
    extra) pkgs="$pkgs wrk liblua5.4-dev zlib1g-dev libexpat1-dev sqlite3 git python3 g++ valgrind" ;;
    *) echo "deps.sh: unknown group $g" >&2; exit 2 ;;
  esac
done
missing=""
for p in $pkgs; do
  st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
  case "$st" in *"ok installed"*) ;; *) missing="$missing $p" ;; esac
done
[ -z "$missing" ] && exit 0
if [ "$(id -u)" = 0 ]; then SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo"
else
  echo "arenapool: missing packages:$missing" >&2
  echo "install them with: sudo apt-get install -y$missing" >&2
  [ "$required" = 1 ] && exit 1
  exit 0
fi
echo "arenapool: installing$missing"
export DEBIAN_FRONTEND=noninteractive
# One update per run is enough; retry once, since mirrors can be flaky.
$SUDO apt-get update -qq >/dev/null 2>&1 || $SUDO apt-get update -qq >/dev/null 2>&1 || true
if ! $SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null; then
  echo "arenapool: apt-get install failed for:$missing" >&2
  [ "$required" = 1 ] && exit 1
  # Optional group: install what can be installed, one by one.
  for p in $missing; do $SUDO apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 || echo "arenapool: skipped $p" >&2; done
fi
exit 0
