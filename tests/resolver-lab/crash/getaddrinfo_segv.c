/*
 * LD_PRELOAD stand-in for the field crash: a getaddrinfo(3) that faults.
 *
 * Loggie (cgo plus a statically linked glibc) dies inside getaddrinfo when Go
 * hands it a lookup. This object makes every call to getaddrinfo do the same:
 * it writes one marker line to stderr (so the lab knows libc's resolver was
 * entered) and then dereferences NULL. That is a real, kernel-generated SIGSEGV
 * (SEGV_MAPERR, addr=0x0) on a thread running C code, which Go reports exactly
 * as in the field: "fatal error: unexpected signal during runtime execution"
 * (Go <= 1.20) or "SIGSEGV: segmentation violation ... signal arrived during cgo
 * execution" (Go >= 1.21), with net._C2func_getaddrinfo on the stack.
 *
 * raise(SIGSEGV) would not do: Go treats a signal sent by a process
 * differently from a fault.
 */
#include <netdb.h>
#include <unistd.h>

#define MARKER "resolver-lab: getaddrinfo() entered (libc resolver); faulting\n"

int getaddrinfo(const char *node, const char *service,
                const struct addrinfo *hints, struct addrinfo **res)
{
    (void)node;
    (void)service;
    (void)hints;
    (void)res;
    if (write(STDERR_FILENO, MARKER, sizeof MARKER - 1) < 0) {
        /* nothing to do: we are about to fault anyway */
    }
    *(volatile int *)0 = 0;
    return EAI_FAIL;
}
