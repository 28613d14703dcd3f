// Fiber stacks and the context switch (see fibha/csim/fiber.hpp for why they are ours).
//
// Stacks are anonymous mappings reserved with MAP_NORESERVE (pages are committed only when
// touched), with a guard page at the low end so an overflow faults instead of corrupting
// a neighbour, and kept on a free list for the next process: a MobileNetV2 image starts a
// few hundred processes.
#include "fibha/csim/fiber.hpp"

#include <sys/mman.h>
#include <unistd.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <vector>

#if defined(__SANITIZE_ADDRESS__)
#define FIBHA_FIBER_ASAN 1
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define FIBHA_FIBER_ASAN 1
#endif
#endif
#ifndef FIBHA_FIBER_ASAN
#define FIBHA_FIBER_ASAN 0
#endif

#if !FIBHA_FIBER_ASAN && !defined(FIBHA_FIBER_UCONTEXT) && (defined(__x86_64__) || defined(__aarch64__))
#define FIBHA_FIBER_ASM 1
#else
#define FIBHA_FIBER_ASM 0
#include <ucontext.h>
#endif

#if FIBHA_FIBER_ASAN
#include <sanitizer/common_interface_defs.h>
#endif

namespace fibha {
namespace csim {

struct Fiber::Impl {
#if FIBHA_FIBER_ASM
  void* sp = nullptr;  ///< saved stack pointer (the register block sits on the stack)
#else
  ucontext_t context;
#endif
#if FIBHA_FIBER_ASAN
  void* fake_stack = nullptr;
  const void* bottom = nullptr;
  std::size_t size = 0;
#endif
};

/// Entered once per fiber, on its own stack.
struct FiberEntry {
  static void run(Fiber* p_self) { Fiber::entry(p_self); }
};

}  // namespace csim
}  // namespace fibha

extern "C" {
void fibha_csim_fiber_entry(fibha::csim::Fiber* p_self) { fibha::csim::FiberEntry::run(p_self); }
}

#if FIBHA_FIBER_ASM
extern "C" void fibha_csim_swap(void** p_save, void* p_load);
extern "C" void fibha_csim_trampoline();

#if defined(__x86_64__)
// System V x86-64: rbx, rbp, r12-r15, the x87 control word and MXCSR are callee-saved.
// A new fiber's stack holds a register block whose return address is the trampoline and
// whose r12 is the Fiber*; the trampoline aligns the stack and calls the entry.
asm(R"(
  .text
  .globl fibha_csim_swap
  .type fibha_csim_swap,@function
fibha_csim_swap:
  pushq %rbp
  pushq %rbx
  pushq %r12
  pushq %r13
  pushq %r14
  pushq %r15
  subq $8, %rsp
  stmxcsr (%rsp)
  fnstcw 4(%rsp)
  movq %rsp, (%rdi)
  movq %rsi, %rsp
  ldmxcsr (%rsp)
  fldcw 4(%rsp)
  addq $8, %rsp
  popq %r15
  popq %r14
  popq %r13
  popq %r12
  popq %rbx
  popq %rbp
  ret
  .size fibha_csim_swap,.-fibha_csim_swap

  .globl fibha_csim_trampoline
  .type fibha_csim_trampoline,@function
fibha_csim_trampoline:
  movq %r12, %rdi
  andq $-16, %rsp
  callq fibha_csim_fiber_entry@PLT
  ud2
  .size fibha_csim_trampoline,.-fibha_csim_trampoline
  .section .note.GNU-stack,"",@progbits
  .text
)");

namespace {
constexpr std::size_t kFrameWords = 8;  // fp control, r15, r14, r13, r12, rbx, rbp, return address
void* initial_frame(void* p_top, fibha::csim::Fiber* p_self) {
  auto* l_frame = static_cast<std::uint64_t*>(p_top) - kFrameWords - 1;  // keep the trampoline's rsp aligned
  l_frame[0] = 0x037Full << 32 | 0x1F80u;                                 // default FPU control word, MXCSR
  l_frame[1] = 0;
  l_frame[2] = 0;
  l_frame[3] = 0;
  l_frame[4] = reinterpret_cast<std::uint64_t>(p_self);  // r12
  l_frame[5] = 0;
  l_frame[6] = 0;  // rbp: ends frame-pointer walks
  l_frame[7] = reinterpret_cast<std::uint64_t>(&fibha_csim_trampoline);
  return l_frame;
}
}  // namespace

#elif defined(__aarch64__)
// AAPCS64: x19-x29, the link register and d8-d15 are callee-saved. A new fiber's block
// holds x19 = Fiber* and x30 = the trampoline.
asm(R"(
  .text
  .globl fibha_csim_swap
  .type fibha_csim_swap,%function
fibha_csim_swap:
  sub sp, sp, #176
  stp x19, x20, [sp, #0]
  stp x21, x22, [sp, #16]
  stp x23, x24, [sp, #32]
  stp x25, x26, [sp, #48]
  stp x27, x28, [sp, #64]
  stp x29, x30, [sp, #80]
  stp d8, d9, [sp, #96]
  stp d10, d11, [sp, #112]
  stp d12, d13, [sp, #128]
  stp d14, d15, [sp, #144]
  mov x2, sp
  str x2, [x0]
  mov sp, x1
  ldp x19, x20, [sp, #0]
  ldp x21, x22, [sp, #16]
  ldp x23, x24, [sp, #32]
  ldp x25, x26, [sp, #48]
  ldp x27, x28, [sp, #64]
  ldp x29, x30, [sp, #80]
  ldp d8, d9, [sp, #96]
  ldp d10, d11, [sp, #112]
  ldp d12, d13, [sp, #128]
  ldp d14, d15, [sp, #144]
  add sp, sp, #176
  ret
  .size fibha_csim_swap,.-fibha_csim_swap

  .globl fibha_csim_trampoline
  .type fibha_csim_trampoline,%function
fibha_csim_trampoline:
  mov x0, x19
  bl fibha_csim_fiber_entry
  brk #0
  .size fibha_csim_trampoline,.-fibha_csim_trampoline
  .section .note.GNU-stack,"",%progbits
  .text
)");

namespace {
constexpr std::size_t kFrameWords = 22;  // 176 bytes
void* initial_frame(void* p_top, fibha::csim::Fiber* p_self) {
  auto* l_frame = static_cast<std::uint64_t*>(p_top) - kFrameWords;
  for (std::size_t l_i = 0; l_i < kFrameWords; ++l_i) {
    l_frame[l_i] = 0;
  }
  l_frame[0] = reinterpret_cast<std::uint64_t>(p_self);  // x19
  l_frame[11] = reinterpret_cast<std::uint64_t>(&fibha_csim_trampoline);  // x30
  return l_frame;
}
}  // namespace
#endif
#else
namespace {
/// makecontext passes int arguments only: the Fiber* travels as two halves.
void ucontext_entry(unsigned p_hi, unsigned p_lo) {
  const std::uintptr_t l_ptr = (std::uintptr_t{p_hi} << 16 << 16) | p_lo;
  fibha_csim_fiber_entry(reinterpret_cast<fibha::csim::Fiber*>(l_ptr));
}
}  // namespace
#endif

namespace fibha {
namespace csim {
namespace {

/// Stacks of finished fibers, for reuse (all of the same size).
struct StackPool {
  std::size_t bytes = 0;
  std::vector<void*> free;

  static StackPool& instance() {
    static StackPool l_pool;
    return l_pool;
  }

  void* take(std::size_t p_bytes) {
    if (p_bytes == bytes && !free.empty()) {
      void* l_stack = free.back();
      free.pop_back();
      return l_stack;
    }
    const std::size_t l_page = static_cast<std::size_t>(sysconf(_SC_PAGESIZE));
    void* l_stack = mmap(nullptr, p_bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (l_stack == MAP_FAILED) {
      std::fprintf(stderr, "csim: cannot reserve a %zu-byte process stack\n", p_bytes);
      std::abort();
    }
    mprotect(l_stack, l_page, PROT_NONE);  // guard page: an overflow faults
    return l_stack;
  }

  void give(void* p_stack, std::size_t p_bytes) {
    if (bytes == 0) {
      bytes = p_bytes;
    }
    if (p_bytes == bytes && free.size() < 64) {
      free.push_back(p_stack);
    } else {
      munmap(p_stack, p_bytes);
    }
  }
};

#if FIBHA_FIBER_ASAN
Fiber* g_switching_from = nullptr;
#endif

}  // namespace

Fiber::Fiber() : m_impl(new Impl) {}

Fiber::Fiber(std::function<void()> p_body, std::size_t p_stackBytes)
    : m_body(std::move(p_body)), m_stackBytes(p_stackBytes), m_impl(new Impl) {
  m_stack = StackPool::instance().take(p_stackBytes);
  void* const l_top = static_cast<char*>(m_stack) + p_stackBytes;
#if FIBHA_FIBER_ASM
  m_impl->sp = initial_frame(l_top, this);
#else
  (void)l_top;
  getcontext(&m_impl->context);
  m_impl->context.uc_stack.ss_sp = m_stack;
  m_impl->context.uc_stack.ss_size = p_stackBytes;
  m_impl->context.uc_link = nullptr;
  const std::uintptr_t l_self = reinterpret_cast<std::uintptr_t>(this);
  makecontext(&m_impl->context, reinterpret_cast<void (*)()>(&ucontext_entry), 2,
              static_cast<unsigned>(l_self >> 16 >> 16), static_cast<unsigned>(l_self & 0xFFFFFFFFu));
#endif
#if FIBHA_FIBER_ASAN
  m_impl->bottom = m_stack;
  m_impl->size = p_stackBytes;
#endif
}

Fiber::~Fiber() {
  if (m_stack != nullptr) {
    StackPool::instance().give(m_stack, m_stackBytes);
  }
  delete m_impl;
}

void Fiber::switch_to(Fiber& p_from, Fiber& p_to) {
#if FIBHA_FIBER_ASAN
  g_switching_from = &p_from;
  __sanitizer_start_switch_fiber(p_from.m_finished ? nullptr : &p_from.m_impl->fake_stack, p_to.m_impl->bottom,
                                 p_to.m_impl->size);
#endif
#if FIBHA_FIBER_ASM
  fibha_csim_swap(&p_from.m_impl->sp, p_to.m_impl->sp);
#else
  swapcontext(&p_from.m_impl->context, &p_to.m_impl->context);
#endif
#if FIBHA_FIBER_ASAN
  // Back in p_from: learn the stack we came from (the thread's own, the first time).
  Fiber* const l_came = g_switching_from;
  __sanitizer_finish_switch_fiber(p_from.m_impl->fake_stack, &l_came->m_impl->bottom, &l_came->m_impl->size);
#endif
}

void Fiber::entry(Fiber* p_self) {
#if FIBHA_FIBER_ASAN
  Fiber* const l_came = g_switching_from;
  __sanitizer_finish_switch_fiber(nullptr, &l_came->m_impl->bottom, &l_came->m_impl->size);
#endif
  p_self->m_body();  // the scheduler's wrapper catches everything the body throws
  p_self->m_finished = true;
  switch_to(*p_self, *p_self->m_exit);
  std::fprintf(stderr, "csim: a finished fiber was resumed\n");
  std::abort();
}

}  // namespace csim
}  // namespace fibha
