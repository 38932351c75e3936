// The parts of LLVM's C API the JIT uses. The include folder comes from Package.swift
// (`llvm-config --includedir` of Debian's llvm-dev).
#include <llvm-c/Core.h>
#include <llvm-c/Analysis.h>
#include <llvm-c/Target.h>
#include <llvm-c/TargetMachine.h>
#include <llvm-c/LLJIT.h>
#include <llvm-c/Orc.h>
#include <llvm-c/Transforms/PassBuilder.h>
#include <llvm-c/Error.h>
#include <llvm/Config/llvm-config.h>
#include <llvm-c/BitWriter.h>
#include <llvm-c/DebugInfo.h>

// Linux lends a process AMX's tile registers (8 KiB of state per thread) only once it asks:
// arch_prctl(ARCH_REQ_XCOMP_PERM, XFEATURE_XTILEDATA). Variadic `syscall` is out of Swift's reach,
// hence this wrapper. 0 when granted (or already granted), -1 elsewhere.
#if defined(__linux__) && defined(__x86_64__)
#include <sys/syscall.h>
#include <unistd.h>
static inline int lowpass_request_amx_tiles(void) { return (int)syscall(SYS_arch_prctl, 0x1023, 18); }
#else
static inline int lowpass_request_amx_tiles(void) { return -1; }
#endif
