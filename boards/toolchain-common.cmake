# boards/toolchain-common.cmake - included by toolchain-<arch>.cmake after it set HC_TRIPLET,
# HC_PROCESSOR and HC_QEMU. Debian's cross compilers and multiarch -dev packages (libfoo-dev:arm64
# installs beside the amd64 one, in /usr/lib/<triplet>); a package that is not Multi-Arch
# (libqpid-proton11-dev) is unpacked by tools/cross.sh into an overlay, HUBCAP_CROSS_OVERLAY
# (default <build>/overlay), searched before the system. Executables run through qemu-user:
# ctest runs the unit tests with CMAKE_CROSSCOMPILING_EMULATOR.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR ${HC_PROCESSOR})
set(CMAKE_C_COMPILER ${HC_TRIPLET}-gcc)
set(CMAKE_AR ${HC_TRIPLET}-gcc-ar CACHE FILEPATH "")
set(CMAKE_RANLIB ${HC_TRIPLET}-gcc-ranlib CACHE FILEPATH "")
set(CMAKE_STRIP ${HC_TRIPLET}-strip CACHE FILEPATH "")
set(CMAKE_LIBRARY_ARCHITECTURE ${HC_TRIPLET})

if(NOT HUBCAP_CROSS_OVERLAY)
  set(HUBCAP_CROSS_OVERLAY ${CMAKE_BINARY_DIR}/overlay)
endif()
# try_compile projects get the toolchain file again: pass the overlay on
list(APPEND CMAKE_TRY_COMPILE_PLATFORM_VARIABLES HUBCAP_CROSS_OVERLAY)
set(CMAKE_FIND_ROOT_PATH ${HUBCAP_CROSS_OVERLAY} /usr/${HC_TRIPLET} /)
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)

# pkg-config reads the target's .pc files only (the host's would link amd64 libraries)
set(ENV{PKG_CONFIG_LIBDIR}
    "${HUBCAP_CROSS_OVERLAY}/usr/lib/${HC_TRIPLET}/pkgconfig:/usr/lib/${HC_TRIPLET}/pkgconfig:/usr/share/pkgconfig")
set(ENV{PKG_CONFIG_PATH} "")

# the overlay's libraries at link time (their DT_NEEDED ones are multiarch) and at run time
# under qemu (the build RPATH names the overlay's folder)
set(CMAKE_EXE_LINKER_FLAGS_INIT "-Wl,-rpath-link,${HUBCAP_CROSS_OVERLAY}/usr/lib/${HC_TRIPLET}")
# qemu-user finds the target's ld.so and libc: the multiarch libc6:<arch> that the -dev packages
# bring (/lib/<triplet>, the one the libraries were built against) when it is there. Not -L
# /usr/<triplet> then: that folder holds the cross toolchain's own glibc (libc6-<arch>-cross,
# another build), and its ld.so with the multiarch libc.so.6 crashes every fork() child (armhf)
# or hangs it (arm64).
if(EXISTS /lib/${HC_TRIPLET}/libc.so.6)
  set(CMAKE_CROSSCOMPILING_EMULATOR ${HC_QEMU})
else()
  set(CMAKE_CROSSCOMPILING_EMULATOR ${HC_QEMU} -L /usr/${HC_TRIPLET})
endif()
