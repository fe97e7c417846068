// Keeps the addon loadable on glibc 2.28 (Debian 10, RHEL 8) although it is built on a newer
// one. libstdc++ and libgcc are linked statically (so the addon needs no particular
// libstdc++.so), and the archives of a glibc 2.36 toolchain reference five symbols that only
// newer glibc versions export. Each one is satisfied here, linked with
// -Wl,--wrap=<name> (CMakeLists.txt, WS_GLIBC_COMPAT); test/prebuild.test.ts reads the
// built ELF and fails on any GLIBC_ version above 2.28.
//
// None of these paths matters to the addon's own work: it is built with -fno-exceptions,
// uses no std::random_device and starts no threads of its own.
#include <features.h>

#if defined(__GLIBC__)

#include <errno.h>
#include <pthread.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>

#if defined(__x86_64__)
#define WS_GLIBC_BASE "GLIBC_2.2.5"
#elif defined(__aarch64__)
#define WS_GLIBC_BASE "GLIBC_2.17"
#else
#error "glibc_compat.cc knows the base symbol version of x86-64 and arm64 only"
#endif

extern "C" {

// glibc 2.32+: libstdc++ skips atomic reference counts while this is non-zero. Zero means
// "assume other threads": always correct, never the GLIBC_2.32 reference.
__attribute__((visibility("hidden"))) char __libc_single_threaded = 0;

// glibc 2.34 moved pthread_once and pthread_key_create into libc under a new version; the
// original versions are still exported (by libpthread before 2.34, by libc after), so the
// wrappers call those.
int ws_pthread_once_v0(pthread_once_t*, void (*)(void)) __attribute__((weak));
int ws_pthread_key_create_v0(pthread_key_t*, void (*)(void*)) __attribute__((weak));
__asm__(".symver ws_pthread_once_v0, pthread_once@" WS_GLIBC_BASE);
__asm__(".symver ws_pthread_key_create_v0, __pthread_key_create@" WS_GLIBC_BASE);

__attribute__((visibility("hidden"))) int __wrap_pthread_once(pthread_once_t* once,
                                                              void (*fn)(void)) {
  return ws_pthread_once_v0 ? ws_pthread_once_v0(once, fn) : ENOSYS;
}

__attribute__((visibility("hidden"))) int __wrap___pthread_key_create(pthread_key_t* key,
                                                                      void (*dtor)(void*)) {
  return ws_pthread_key_create_v0 ? ws_pthread_key_create_v0(key, dtor) : ENOSYS;
}

// glibc 2.36: std::random_device's default source. The getrandom system call directly.
__attribute__((visibility("hidden"))) uint32_t __wrap_arc4random(void) {
  uint32_t v = 0;
  for (;;) {
    long n = syscall(SYS_getrandom, &v, sizeof v, 0);
    if (n == static_cast<long>(sizeof v)) return v;
    if (n < 0 && errno != EINTR) __builtin_trap();
  }
}

// glibc 2.35: libgcc's unwinder finds a PC's unwind tables with it. "Not found" makes a C++
// exception unwind no further and end in std::terminate, which is what any exception
// reaching this -fno-exceptions code does anyway.
struct dl_find_object;
__attribute__((visibility("hidden"))) int __wrap__dl_find_object(void*, dl_find_object*) {
  return -1;
}

}  // extern "C"

#endif  // __GLIBC__
