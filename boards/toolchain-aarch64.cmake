# boards/toolchain-aarch64.cmake - 64-bit ARM (Raspberry Pi 3/4/5 on a 64-bit OS, other ARMv8
# gateways): Debian's gcc-aarch64-linux-gnu, the :arm64 -dev packages, qemu-aarch64.
#   cmake -S . -B build-aarch64 -DCMAKE_TOOLCHAIN_FILE=boards/toolchain-aarch64.cmake
# (tools/cross.sh aarch64 installs what is missing and builds.)
set(HC_TRIPLET aarch64-linux-gnu)
set(HC_PROCESSOR aarch64)
set(HC_QEMU qemu-aarch64)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-common.cmake)
