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
