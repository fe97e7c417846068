// Can a runtime that takes a path read a memfd_secret(2) file? README "Runtimes that only take
// a path" cites this probe's result (Linux 6.18: reopen ENXIO, pwrite ESPIPE, mmap ok).
//   cc -O native/test/memfd_secret_probe.c -o /tmp/probe && /tmp/probe
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/syscall.h>
#include <unistd.h>

#ifndef SYS_memfd_secret
#define SYS_memfd_secret 447
#endif

static void report(const char* what, int ok) { printf("%-34s %s\n", what, ok ? "ok" : strerror(errno)); }

int main(void) {
  int fd = (int)syscall(SYS_memfd_secret, 0);
  report("memfd_secret", fd >= 0);
  if (fd < 0) return 0;
  report("ftruncate 1 MiB", ftruncate(fd, 1 << 20) == 0);
  report("pwrite (how weightseal fills a file)", pwrite(fd, "weights", 7, 0) == 7);
  void* p = mmap(NULL, 1 << 20, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
  report("mmap of the descriptor", p != MAP_FAILED);
  char path[64];
  snprintf(path, sizeof path, "/proc/self/fd/%d", fd);
  int again = open(path, O_RDONLY);  // what llama.cpp's fopen and onnxruntime's open do
  report("open(/proc/self/fd/N)", again >= 0);
  if (again >= 0) {
    char b[8];
    report("read through the path", read(again, b, sizeof b) >= 0);
  }
  return 0;
}
