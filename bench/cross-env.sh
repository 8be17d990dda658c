# Sourced by bench/board.sh and .ci/aarch64.sh: `cross_env ARCH` installs what building and
# running for ARCH (aarch64, armv7) on this x86 machine needs, if missing (a cross C
# toolchain for linking, qemu-user, the Rust target; SKIP_INSTALL=1 skips that), and exports
# CROSS_TARGET and the cargo variables for its linker and qemu runner.
cross_env() {
    local arch="$1" gcc pkgs qemu
    case "$arch" in
        aarch64)
            CROSS_TARGET=aarch64-unknown-linux-gnu
            gcc=aarch64-linux-gnu-gcc
            pkgs="gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
            qemu=qemu-aarch64-static
            export QEMU_LD_PREFIX=/usr/aarch64-linux-gnu ;;
        armv7)
            CROSS_TARGET=armv7-unknown-linux-gnueabihf
            gcc=arm-linux-gnueabihf-gcc
            pkgs="gcc-arm-linux-gnueabihf libc6-dev-armhf-cross"
            qemu=qemu-arm-static
            export QEMU_LD_PREFIX=/usr/arm-linux-gnueabihf ;;
        *)
            echo "unknown arch $arch (aarch64 or armv7)" >&2
            return 2 ;;
    esac
    export CROSS_TARGET
    if [[ "${SKIP_INSTALL:-0}" != 1 ]]; then
        if ! command -v "$gcc" >/dev/null || ! command -v "$qemu" >/dev/null; then
            echo "== apt-get install $pkgs qemu-user-static"
            apt-get update -qq
            # shellcheck disable=SC2086 # a list of package names
            apt-get install -y -qq $pkgs qemu-user-static
        fi
        if ! rustup target list --installed 2>/dev/null | grep -qx "$CROSS_TARGET"; then
            echo "== rustup target add $CROSS_TARGET"
            rustup target add "$CROSS_TARGET"
        fi
    fi
    local var
    var="$(echo "$CROSS_TARGET" | tr 'a-z-' 'A-Z_')"
    export "CARGO_TARGET_${var}_LINKER=$gcc"
    # Never `-L` in the runner: with it, threaded test binaries hang. Target binaries find
    # the cross libc through QEMU_LD_PREFIX.
    export "CARGO_TARGET_${var}_RUNNER=$qemu"
    CROSS_RUNNER="$qemu"
    export CROSS_RUNNER
}
