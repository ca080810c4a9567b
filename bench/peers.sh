#!/bin/sh
# peers.sh CC - print the benchmark peers whose development packages are
# installed (a real compile-and-link test each), space separated.
# glibc malloc and obstack are always there and are not listed.
set -u
cc=${1:-cc}
tmp=$(mktemp -d) || exit 1
trap 'rm -rf "$tmp"' EXIT
try() { # name flags... ; the test program is on stdin
  name=$1; shift
  if $cc -x c - -o "$tmp/a.out" "$@" >/dev/null 2>&1; then printf '%s ' "$name"; fi
}
apr_cflags=$(pkg-config --cflags apr-1 2>/dev/null || echo "-I/usr/include/apr-1.0")
printf '#include <talloc.h>\nint main(void){void *c = talloc_new(0); return talloc_free(c);}\n' | try talloc -ltalloc
printf '#include <apr_pools.h>\nint main(void){return apr_initialize();}\n' | try apr $apr_cflags -lapr-1
printf '#include <stdlib.h>\nint main(void){free(malloc(1)); return 0;}\n' > "$tmp/m.c"
try jemalloc -ljemalloc < "$tmp/m.c"
try mimalloc -lmimalloc < "$tmp/m.c"
try tcmalloc -ltcmalloc_minimal < "$tmp/m.c"
echo
