# boards/toolchain-armhf.cmake - 32-bit ARM, hard float (Raspberry Pi 2/3 on a 32-bit OS, ARMv7
# gateways): Debian's gcc-arm-linux-gnueabihf (ARMv7-A, VFPv3-D16, Thumb-2: Debian's armhf
# baseline; not the Pi 1/Zero's ARMv6), the :armhf -dev packages, qemu-arm.
#   cmake -S . -B build-armhf -DCMAKE_TOOLCHAIN_FILE=boards/toolchain-armhf.cmake
set(HC_TRIPLET arm-linux-gnueabihf)
set(HC_PROCESSOR armv7l)
set(HC_QEMU qemu-arm)
include(${CMAKE_CURRENT_LIST_DIR}/toolchain-common.cmake)
