#!/bin/sh
# Runs an aarch64 program under qemu-aarch64 as a Cortex-A76 (a phone's big core: dot
# product, no i8mm; under qemu 7.2's default "max" CPU, LiteRT's int8 kernels give other
# scores than on x86 and on an A76), with that core's /proc/cpuinfo: qemu passes the host's
# x86 one through, on which LiteRT's CPU detection crashes. The bind mount lives in a
# private mount namespace (unshare -m, root), for this one process and its children.
here=$(dirname "$(readlink -f "$0")")
exec unshare -m sh -c 'mount --bind "$1/arm-cpuinfo" /proc/cpuinfo && shift && exec qemu-aarch64 -cpu cortex-a76 -L /usr/aarch64-linux-gnu "$@"' sh "$here" "$@"
