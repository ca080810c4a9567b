#!/bin/sh
# deps.sh GROUP... - install the Debian packages a make target needs.
# As root (or with passwordless sudo) it installs what is missing, in one
# apt-get call.  Otherwise it prints one `apt-get install` line with every
# missing package of the groups asked for, and fails if a required one is
# among them: a person fixes everything at once instead of meeting one
# missing package per run.
#   suite   everything make test uses: its required packages (the test
#           group, plus the programs the Memcheck, C++ and real-program
#           suites run) and, optional, the extra and bench groups
#   test    Criterion, clang, pkg-config and cmake (required)
#   bench   benchmark peers and tools (optional: missing ones are skipped)
#   extra   packages for examples and real-program tests (optional)
set -u
TEST_PKGS="libcriterion-dev clang libclang-rt-dev pkg-config cmake"
SUITE_PKGS="valgrind g++ python3 sqlite3 git"
BENCH_PKGS="libjemalloc-dev libmimalloc-dev libgoogle-perftools-dev libtalloc-dev libapr1-dev gnuplot-nox valgrind"
EXTRA_PKGS="wrk liblua5.4-dev zlib1g-dev libexpat1-dev sqlite3 git python3 g++ valgrind libpython3.11-testsuite"

req=""
opt=""
for g in "$@"; do
  case "$g" in
    suite) req="$req $TEST_PKGS $SUITE_PKGS"; opt="$opt $EXTRA_PKGS $BENCH_PKGS" ;;
    test)  req="$req $TEST_PKGS" ;;
    bench) opt="$opt $BENCH_PKGS" ;;
    extra) opt="$opt $EXTRA_PKGS" ;;
    *) echo "deps.sh: unknown group $g" >&2; exit 2 ;;
  esac
done

# missing PKG...: those not installed, each once, in the order given.
missing() {
  out=""
  for p in "$@"; do
    case " $out " in *" $p "*) continue ;; esac
    st=$(dpkg-query -W -f='${Status}' "$p" 2>/dev/null)
    case "$st" in *"ok installed"*) ;; *) out="$out $p" ;; esac
  done
  echo "$out"
}
# shellcheck disable=SC2086 # word splitting of the package lists is wanted
mreq=$(missing $req)
# shellcheck disable=SC2086
mopt=$(missing $opt)
# A package both required and optional is listed once, as required.
o=""
for p in $mopt; do case " $mreq " in *" $p "*) ;; *) o="$o $p" ;; esac; done
mopt=$o
[ -z "$mreq$mopt" ] && exit 0

if [ "$(id -u)" = 0 ]; then SUDO=""
elif command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo"
else
  echo "arenapool: Debian packages missing here:" >&2
  [ -n "$mreq" ] && echo "  required:$mreq" >&2
  [ -n "$mopt" ] && echo "  optional (what needs them is skipped):$mopt" >&2
  echo "install them all with:" >&2
  echo "  sudo apt-get install -y$mreq$mopt" >&2
  [ -n "$mreq" ] && exit 1
  exit 0
fi

echo "arenapool: installing$mreq$mopt"
export DEBIAN_FRONTEND=noninteractive
# One update per run is enough; retry once, since mirrors can be flaky.
$SUDO apt-get update -qq >/dev/null 2>&1 || $SUDO apt-get update -qq >/dev/null 2>&1 || true
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $mreq $mopt >/dev/null && exit 0
# Something failed: the required packages alone must install; the optional
# ones are tried one by one, and a missing one is only reported.
if [ -n "$mreq" ]; then
  # shellcheck disable=SC2086
  if ! $SUDO apt-get install -y -qq --no-install-recommends $mreq >/dev/null; then
    echo "arenapool: apt-get install failed for:$mreq" >&2
    exit 1
  fi
fi
for p in $mopt; do
  $SUDO apt-get install -y -qq --no-install-recommends "$p" >/dev/null 2>&1 || echo "arenapool: skipped $p" >&2
done
exit 0
