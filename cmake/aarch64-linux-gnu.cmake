# Cross build of the aarch64 `spore` and guest agent on an x86_64 Debian
# host. Libraries come from the arm64 sysroot that scripts/setup unpacks.
set(CMAKE_SYSTEM_NAME Linux)
set(CMAKE_SYSTEM_PROCESSOR aarch64)
set(CMAKE_C_COMPILER aarch64-linux-gnu-gcc)
set(CMAKE_CXX_COMPILER aarch64-linux-gnu-g++)
set(CMAKE_LIBRARY_ARCHITECTURE aarch64-linux-gnu)

if(NOT SPOREVM_ARM64_SYSROOT)
    set(SPOREVM_ARM64_SYSROOT "$ENV{SPOREVM_ARM64_SYSROOT}")
endif()
if(NOT SPOREVM_ARM64_SYSROOT)
    message(FATAL_ERROR "set SPOREVM_ARM64_SYSROOT (scripts/build does this)")
endif()
set(SPOREVM_ARM64_SYSROOT "${SPOREVM_ARM64_SYSROOT}" CACHE PATH "arm64 library sysroot")

set(CMAKE_FIND_ROOT_PATH "${SPOREVM_ARM64_SYSROOT}")
# Multiarch headers (opensslconf.h) live below the triplet directory.
set(CMAKE_C_FLAGS_INIT "-isystem ${SPOREVM_ARM64_SYSROOT}/usr/include/aarch64-linux-gnu")
set(CMAKE_CXX_FLAGS_INIT "-isystem ${SPOREVM_ARM64_SYSROOT}/usr/include/aarch64-linux-gnu")
set(CMAKE_FIND_ROOT_PATH_MODE_PROGRAM NEVER)
set(CMAKE_FIND_ROOT_PATH_MODE_LIBRARY ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_INCLUDE ONLY)
set(CMAKE_FIND_ROOT_PATH_MODE_PACKAGE ONLY)
