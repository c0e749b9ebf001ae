/* Wine 8 (Debian 12) lacks bcryptprimitives.dll, which Rust's standard library
 * (1.78+) loads for ProcessPrng: this stand-in forwards to BCryptGenRandom so the
 * Windows test binaries start under Wine. Built by deploy/windows/wine-test.sh;
 * never shipped. */
#include <windows.h>
#include <bcrypt.h>
BOOL WINAPI ProcessPrng(PBYTE data, SIZE_T len) {
    return BCryptGenRandom(NULL, data, (ULONG)len, BCRYPT_USE_SYSTEM_PREFERRED_RNG) == 0;
}
