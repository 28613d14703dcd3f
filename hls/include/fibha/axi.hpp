// m_axi ports as the synthesizable sources use them, and the burst helpers.
//
// A top-level pointer argument is an AxiIn<T> (read) or AxiOut<T> (written): for Vitis a
// plain T*, bound to its bundle by FIBHA_M_AXI (the INTERFACE pragma); in C simulation a
// pointer that charges every access to its port in the AXI model (fibha/csim/axi.hpp).
//
// Only the helpers below move data in bursts: each is a sequential, unconditional loop
// at II=1 over one pointer, the form Vitis infers a burst from (UG1399 "AXI Burst
// Transfers"; UG1448 214-232 and 214-224 list what defeats it). Any other access,
// p[i] in a loop of its own, is modelled as a transaction of its own, since the model
// cannot see whether Vitis would have found a burst there: write bursts through the
// helpers.
#ifndef FIBHA_AXI_HPP
#define FIBHA_AXI_HPP

#include <cstddef>
#include <cstdint>

#include "fibha/latency.hpp"
#include "fibha/schedule.hpp"
#include "fibha/stream.hpp"

#ifndef __SYNTHESIS__
#include "fibha/csim/axi.hpp"
#endif

namespace fibha {

#ifdef __SYNTHESIS__

template <class T>
using AxiPtr = T*;

/// Binds a top-level pointer argument to an m_axi bundle (one HP port each).
#define FIBHA_M_AXI(port, bundle, depth) \
  FIBHA_PRAGMA(HLS INTERFACE mode=m_axi port=port offset=slave bundle=bundle depth=depth)

#define FIBHA_AXI_BURST_READ(burst, ptr, index) (ptr)[index]
#define FIBHA_AXI_BURST_WRITE(burst, ptr, index, value) (ptr)[index] = (value)
#define FIBHA_AXI_ARRIVE(burst, index)
#define FIBHA_AXI_SEND(burst, index)
#define FIBHA_AXI_RAW(ptr) (ptr)
#define FIBHA_AXI_WRITES_DONE()

#else

/// A pointer into DDR through one m_axi port: every access is charged to the port.
/// \tparam T element type (const for a read-only port)
template <class T>
class AxiPtr {
 public:
  AxiPtr() = default;
  AxiPtr(T* p_base) : m_base(p_base) {}  // NOLINT: the kernel's caller passes plain pointers
  AxiPtr(T* p_base, csim::AxiPort* p_port) : m_base(p_base), m_port(p_port) {}
  template <class U>
  AxiPtr(const AxiPtr<U>& p_other) : m_base(p_other.raw()), m_port(p_other.port()) {}  // NOLINT: T* -> const T*

  /// Attaches the pointer to bundle p_bundle of the running kernel (FIBHA_M_AXI).
  void bind(const char* p_bundle) {
    if (csim::Kernel* const l_kernel = csim::Kernel::active()) {
      m_port = &l_kernel->port(p_bundle);
    }
  }

  T* raw() const { return m_base; }
  csim::AxiPort* port() const { return m_port; }
  AxiPtr operator+(std::ptrdiff_t p_n) const { return AxiPtr(m_base + p_n, m_port); }
  bool operator==(std::nullptr_t) const { return m_base == nullptr; }
  bool operator!=(std::nullptr_t) const { return m_base != nullptr; }

  /// One element: reading or assigning it is a single (non-burst) transaction.
  class Ref {
   public:
    Ref(T* p_at, csim::AxiPort* p_port) : m_at(p_at), m_port(p_port) {}
    operator T() const {  // NOLINT: reads like a plain pointer
      charge(false);
      return *m_at;
    }
    Ref& operator=(const T& p_value) {
      charge(true);
      *m_at = p_value;
      return *this;
    }

   private:
    void charge(bool p_write) const {
      csim::Process* const l_process = csim::current_process();
      if (m_port == nullptr || l_process == nullptr) {
        return;
      }
      if (p_write) {
        m_port->single_write(*l_process, sizeof(T));
      } else {
        m_port->single_read(*l_process, sizeof(T));
      }
    }
    T* m_at;
    csim::AxiPort* m_port;
  };

  Ref operator[](std::size_t p_i) const { return Ref(m_base + p_i, m_port); }

 private:
  T* m_base = nullptr;
  csim::AxiPort* m_port = nullptr;
};

#define FIBHA_M_AXI(port, bundle, depth)                                                 \
  FIBHA_PRAGMA(HLS INTERFACE mode=m_axi port=port offset=slave bundle=bundle depth=depth) \
  port.bind(#bundle)

#define FIBHA_AXI_BURST_READ(burst, ptr, index) ((burst).arrive(index), (ptr).raw()[index])
#define FIBHA_AXI_BURST_WRITE(burst, ptr, index, value) ((burst).send(index), (ptr).raw()[index] = (value))
/// Hand-written bursts: access p_index of a burst declared as a csim::BurstRead/BurstWrite,
/// whose elements the loop then moves through FIBHA_AXI_RAW(ptr) (the plain pointer).
#define FIBHA_AXI_ARRIVE(burst, index) (burst).arrive(index)
#define FIBHA_AXI_SEND(burst, index) (burst).send(index)
#define FIBHA_AXI_RAW(ptr) (ptr).raw()
/// A function's m_axi writes complete before it returns: Vitis waits for their responses
/// at its end. The C model defers them (nothing else waits), so a function that signals
/// its end (a token to another process) states it here first.
#define FIBHA_AXI_WRITES_DONE() ::fibha::csim::await_writes()

#endif

/// A read-only m_axi pointer.
template <class T>
using AxiIn = AxiPtr<const T>;
/// A written m_axi pointer.
template <class T>
using AxiOut = AxiPtr<T>;

namespace axi {

/// Iteration latency of a burst copy loop: the beat, then the store or stream write.
constexpr unsigned kBurstDepth = latency::kCopy;

/// Reads p_count elements p_src[p_first ...] into p_dst[0 .. p_count) as one burst.
/// \tparam t_Max the largest p_count (the loop's trip count for Vitis)
template <unsigned t_Max, class T, class t_Dst>
void burst_read(AxiIn<T> p_src, uint32_t p_first, uint32_t p_count, t_Dst& p_dst) {
#ifndef __SYNTHESIS__
  csim::BurstRead l_burst(p_src.port(), sizeof(T), p_count);
#endif
  const AxiIn<T> l_src = p_src + p_first;
  FIBHA_PIPELINED_FOR(burst_read_loop, kBurstDepth) (uint32_t l_i = 0; l_i < p_count; ++l_i) {
    FIBHA_PIPELINE(burst_read_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=t_Max
    p_dst[l_i] = FIBHA_AXI_BURST_READ(l_burst, l_src, l_i);
  }
}

/// Streams p_count elements p_src[p_first ...] into p_dst as one burst.
template <unsigned t_Max, class T, int t_Depth>
void burst_read(AxiIn<T> p_src, uint32_t p_first, uint32_t p_count, hls::stream<T, t_Depth>& p_dst) {
#ifndef __SYNTHESIS__
  csim::BurstRead l_burst(p_src.port(), sizeof(T), p_count);
#endif
  const AxiIn<T> l_src = p_src + p_first;
  FIBHA_PIPELINED_FOR(burst_stream_in_loop, kBurstDepth) (uint32_t l_i = 0; l_i < p_count; ++l_i) {
    FIBHA_PIPELINE(burst_stream_in_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=t_Max
    p_dst.write(FIBHA_AXI_BURST_READ(l_burst, l_src, l_i));
  }
}

/// Writes p_count elements of p_src to p_dst[p_first ...] as one burst.
template <unsigned t_Max, class T, int t_Depth>
void burst_write(hls::stream<T, t_Depth>& p_src, AxiOut<T> p_dst, uint32_t p_first, uint32_t p_count) {
#ifndef __SYNTHESIS__
  csim::BurstWrite l_burst(p_dst.port(), sizeof(T), p_count);
#endif
  const AxiOut<T> l_dst = p_dst + p_first;
  FIBHA_PIPELINED_FOR(burst_stream_out_loop, kBurstDepth) (uint32_t l_i = 0; l_i < p_count; ++l_i) {
    FIBHA_PIPELINE(burst_stream_out_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=t_Max
    const T l_value = p_src.read();
    FIBHA_AXI_BURST_WRITE(l_burst, l_dst, l_i, l_value);
  }
}

/// Writes p_src[0 .. p_count) to p_dst[p_first ...] as one burst.
template <unsigned t_Max, class T, class t_Src>
void burst_write(const t_Src& p_src, AxiOut<T> p_dst, uint32_t p_first, uint32_t p_count) {
#ifndef __SYNTHESIS__
  csim::BurstWrite l_burst(p_dst.port(), sizeof(T), p_count);
#endif
  const AxiOut<T> l_dst = p_dst + p_first;
  FIBHA_PIPELINED_FOR(burst_write_loop, kBurstDepth) (uint32_t l_i = 0; l_i < p_count; ++l_i) {
    FIBHA_PIPELINE(burst_write_loop, 1);
#pragma HLS LOOP_TRIPCOUNT max=t_Max
    const T l_value = p_src[l_i];
    FIBHA_AXI_BURST_WRITE(l_burst, l_dst, l_i, l_value);
  }
}

}  // namespace axi
}  // namespace fibha

#endif  // FIBHA_AXI_HPP
