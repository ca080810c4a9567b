#!/bin/sh
# readme.sh - README.md's "Install and hello world", as a new user runs it: the
# shell lines of the block marked <!-- readme-test: install --> with HOME set
# to a scratch directory (so $HOME/.local is a fresh prefix), `make` lines in
# the source tree and the others in an empty project directory holding the
# block marked <!-- readme-test: hello.c -->.  The program must print
# "hello from arenapool VERSION" and exit 0; the prefix is thrown away.
set -eu
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
tmp=$(mktemp -d "${TMPDIR:-/tmp}/arenapool-readme.XXXXXX")
trap 'rm -rf "$tmp"' EXIT INT TERM
fail() { echo "test-readme: FAILED: $*" >&2; exit 1; }

# block NAME: the fenced block right after the marker line.
block() {
  awk -v m="<!-- readme-test: $1 -->" '
    $0 == m { want = 1; next }
    want && /^```/ { if (inblk) exit; inblk = 1; next }
    inblk { print }' "$ROOT/README.md"
}
mkdir -p "$tmp/home" "$tmp/project"
block hello.c >"$tmp/project/hello.c"
block install >"$tmp/install.sh"
[ -s "$tmp/project/hello.c" ] && [ -s "$tmp/install.sh" ] || fail "README.md lacks the marked blocks"

version=$(sed -n 's/^#define ARENAPOOL_VERSION_\(MAJOR\|MINOR\|PATCH\) *\([0-9]*\)$/\2/p' "$ROOT/include/arenapool/version.h" | paste -sd.)
: >"$tmp/out"
while IFS= read -r line; do
  case $line in
    make*) dir=$ROOT ;;
    *) dir=$tmp/project ;;
  esac
  echo "\$ $line" >>"$tmp/out"
  # A user's shell: no make variables from the make that runs this test.
  ( cd "$dir" && env -u MAKEFLAGS -u MFLAGS -u MAKELEVEL HOME="$tmp/home" sh -c "$line" ) >>"$tmp/out" 2>&1 ||
    { cat "$tmp/out"; fail "'$line' failed"; }
done <"$tmp/install.sh"
grep -qx "hello from arenapool $version" "$tmp/out" || { cat "$tmp/out"; fail "no 'hello from arenapool $version'"; }
grep -q "prints: hello from arenapool $version" "$tmp/install.sh" || fail "README.md shows another version than $version"
echo "test-readme: ok (README's install and hello world, $(wc -l <"$tmp/install.sh") commands, from a scratch directory against a fresh \$HOME/.local)"
