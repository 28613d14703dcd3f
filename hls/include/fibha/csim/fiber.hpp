// Fibers: the execution contexts of the timed C simulation's concurrent processes.
//
// Every process of a DATAFLOW region runs on its own fiber (a stack and a saved register
// set) so that a process blocked on a stream lets the others run, as the hardware's
// processes do. Fibers are cooperative and run on one thread: only a blocking stream
// operation, a join or the end of a process switches, so the simulation is deterministic.
//
// Why not threads or ucontext: a process blocks every few stream tokens (Vitis's default
// FIFO depth is 2), i.e. about a million switches per MobileNetV2 image. A futex hand-off
// between threads costs microseconds and glibc's swapcontext about 0.6 us per round trip
// (it makes a sigprocmask system call); the hand-written switch in fiber.cpp (x86-64 and
// AArch64: save the callee-saved registers, swap stack pointers) costs a few nanoseconds.
// Other architectures, and sanitizer builds (which must be told about stack switches),
// use ucontext.
#ifndef FIBHA_CSIM_FIBER_HPP
#define FIBHA_CSIM_FIBER_HPP

#include <cstddef>
#include <functional>

namespace fibha {
namespace csim {

/// A cooperative execution context with its own stack.
class Fiber {
 public:
  /// A fiber that will run p_body on a fresh stack of p_stackBytes (reserved lazily).
  Fiber(std::function<void()> p_body, std::size_t p_stackBytes);
  /// The context of the calling thread itself (no stack of its own).
  Fiber();
  Fiber(const Fiber&) = delete;
  Fiber& operator=(const Fiber&) = delete;
  ~Fiber();

  /// Saves the running context into p_from and continues p_to. Returns when some fiber
  /// switches back to p_from.
  static void switch_to(Fiber& p_from, Fiber& p_to);

  /// True once the body has returned (a finished fiber must not be resumed).
  bool finished() const { return m_finished; }

  /// The fiber to continue when the body returns (the scheduler's).
  void set_exit(Fiber* p_exit) { m_exit = p_exit; }

 private:
  struct Impl;
  static void entry(Fiber* p_self);
  friend struct FiberEntry;

  std::function<void()> m_body;
  void* m_stack = nullptr;
  std::size_t m_stackBytes = 0;
  Impl* m_impl = nullptr;
  Fiber* m_exit = nullptr;
  bool m_finished = false;
};

}  // namespace csim
}  // namespace fibha

#endif  // FIBHA_CSIM_FIBER_HPP
