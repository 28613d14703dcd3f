// On-chip arrays whose accesses the schedule check counts (C simulation of fibha::Array).
//
// Vitis maps an array onto memory banks by its ARRAY_PARTITION pragmas (cyclic or block
// by a factor along a dimension, or complete: one register per element) and its
// BIND_STORAGE type, and schedules a pipelined loop so that no bank sees more accesses
// per iteration than it has ports; where the code asks for more, the II rises. This
// class knows the same declarations (the FIBHA_ARRAY_* macros give them to both Vitis
// and this model) and counts, during the first iterations of every pipelined loop, the
// accesses each bank receives; PipelinedLoop turns the worst bank into the II the loop
// really has and LoopSite reports it.
//
// Ports per bank and iteration: a true dual-port RAM (Vitis's automatic choice, ram_2p,
// ram_t2p, rom_2p) two accesses of any kind; ram_s2p one read and one write; ram_1p and
// rom_1p one; registers (every dimension completely partitioned) any number of reads.
// An element that is a struct of an array (fibha::Vec) is split by Vitis into that array
// (one more dimension, not partitioned) unless the array is declared aggregated, so a
// word access counts as one access per lane.
#ifndef FIBHA_CSIM_MEMORY_HPP
#define FIBHA_CSIM_MEMORY_HPP

#include <cstddef>
#include <cstdint>
#include <cstring>
#include <string>
#include <type_traits>
#include <vector>

#include "fibha/csim/timing.hpp"

namespace fibha {
namespace csim {

/// Lanes of an element type: how many scalars Vitis splits it into when it is not
/// aggregated (fibha/types.hpp specializes it for Vec<N>).
template <class T>
struct ElementLanes {
  static constexpr unsigned kValue = 1;
};

/// ARRAY_PARTITION types.
enum class PartitionKind : uint8_t { none, cyclic, block, complete };

/// BIND_STORAGE types (automatic: Vitis picks a one- or two-port RAM as needed).
enum class StorageKind : uint8_t { automatic, ram_1p, ram_2p, ram_s2p, ram_t2p, rom_1p, rom_2p };

/// Product of the extents.
template <unsigned... t_Dims>
constexpr std::size_t extent_product() {
  std::size_t l_n = 1;
  for (unsigned l_d : {t_Dims...}) {
    l_n *= l_d;
  }
  return l_n;
}

template <class t_Array, unsigned t_Dim>
class ArrayView;

/// One element of an Array: reading or assigning it is one counted access.
template <class t_Array>
class ArrayRef {
 public:
  using Element = typename t_Array::Element;
  ArrayRef(t_Array* p_array, std::size_t p_flat) : m_array(p_array), m_flat(p_flat) {}

  operator Element() const {  // NOLINT: implicit like a plain array element
    m_array->note(m_flat, false);
    return m_array->m_data[m_flat];
  }
  ArrayRef& operator=(const Element& p_value) {
    m_array->note(m_flat, true);
    m_array->m_data[m_flat] = p_value;
    return *this;
  }
  ArrayRef& operator=(const ArrayRef& p_other) { return *this = static_cast<Element>(p_other); }

 private:
  t_Array* m_array;
  std::size_t m_flat;
};

/// A read-only element.
template <class t_Array>
class ArrayConstRef {
 public:
  using Element = typename t_Array::Element;
  ArrayConstRef(const t_Array* p_array, std::size_t p_flat) : m_array(p_array), m_flat(p_flat) {}
  operator Element() const {  // NOLINT: implicit like a plain array element
    m_array->note(m_flat, false);
    return m_array->m_data[m_flat];
  }

 private:
  const t_Array* m_array;
  std::size_t m_flat;
};

/// A counted on-chip array of extents t_Dims (row-major, like T[d0][d1]...).
template <class T, unsigned... t_Dims>
class Array : public CountedMemory {
 public:
  using Element = T;
  static constexpr unsigned kRank = sizeof...(t_Dims);
  static constexpr std::size_t kSize = extent_product<t_Dims...>();
  static_assert(kRank > 0 && kSize > 0, "an array has at least one element");

  Array() = default;
  Array(const Array& p_other) : CountedMemory(), m_meta(p_other.m_meta) {
    std::memcpy(static_cast<void*>(m_data), static_cast<const void*>(p_other.m_data), sizeof(m_data));
  }
  Array& operator=(const Array& p_other) {
    std::memcpy(static_cast<void*>(m_data), static_cast<const void*>(p_other.m_data), sizeof(m_data));
    return *this;
  }

  /// The first index: a view of the remaining dimensions, or an element.
  auto operator[](std::size_t p_i) { return ArrayView<Array, 0>(this, 0)[p_i]; }
  auto operator[](std::size_t p_i) const { return ArrayView<const Array, 0>(this, 0)[p_i]; }

  /// The elements, flat (for testbenches loading and reading arrays: not counted).
  T* data() { return m_data; }
  const T* data() const { return m_data; }

  // The declarations only touch the (mutable) metadata, so a const array can be declared
  // where an engine receives it.

  /// FIBHA_ARRAY_PARTITION / FIBHA_ARRAY_COMPLETE: p_dim is 1-based, 0 = every dimension.
  void partition(const char* p_name, PartitionKind p_kind, unsigned p_factor, unsigned p_dim) const {
    m_meta.name = p_name;
    for (unsigned l_d = 0; l_d < kRank; ++l_d) {
      if (p_dim == 0 || p_dim == l_d + 1) {
        m_meta.kind[l_d] = p_kind;
        m_meta.factor[l_d] = p_factor == 0 ? 1 : p_factor;
      }
    }
    m_meta.layout_ready = false;
  }
  /// FIBHA_BIND_STORAGE.
  void storage(const char* p_name, StorageKind p_kind) const {
    m_meta.name = p_name;
    m_meta.storage = p_kind;
  }
  /// FIBHA_AGGREGATE: struct elements stay one word.
  void aggregate(const char* p_name) const {
    m_meta.name = p_name;
    m_meta.aggregated = true;
  }

  const std::string& memory_name() const override { return m_meta.name; }

  unsigned needed_ii(uint64_t p_epoch, unsigned& p_accesses, unsigned& p_ports) const override {
    if (m_meta.epoch != p_epoch) {
      p_accesses = 0;
      p_ports = 0;
      return 1;
    }
    p_accesses = m_meta.worst_accesses;
    p_ports = ports_per_bank();
    return m_meta.worst_ii;
  }

 private:
  template <class, unsigned>
  friend class ArrayView;
  template <class>
  friend class ArrayRef;
  template <class>
  friend class ArrayConstRef;

  static constexpr unsigned kExtents[kRank] = {t_Dims...};

  struct Meta {
    std::string name = "unnamed array";
    PartitionKind kind[kRank] = {};
    unsigned factor[kRank] = {};
    StorageKind storage = StorageKind::automatic;
    bool aggregated = false;
    bool layout_ready = false;
    bool registers = false;
    std::size_t stride[kRank] = {};
    std::size_t banks_along[kRank] = {};
    std::size_t bank_weight[kRank] = {};
    std::size_t banks = 1;
    uint64_t epoch = 0;
    unsigned worst_accesses = 0;
    unsigned worst_ii = 1;
    std::vector<uint64_t> stamp;
    std::vector<uint32_t> reads;
    std::vector<uint32_t> writes;
  };

  unsigned ports_per_bank() const {
    switch (m_meta.storage) {
      case StorageKind::ram_1p:
      case StorageKind::rom_1p:
      case StorageKind::ram_s2p:
        return 1;
      default:
        return 2;
    }
  }

  void prepare_layout() const {
    Meta& l_m = m_meta;
    std::size_t l_stride = 1;
    bool l_allComplete = true;
    for (unsigned l_d = kRank; l_d-- > 0;) {
      l_m.stride[l_d] = l_stride;
      l_stride *= kExtents[l_d];
      std::size_t l_banks = 1;
      switch (l_m.kind[l_d]) {
        case PartitionKind::cyclic:
        case PartitionKind::block:
          l_banks = l_m.factor[l_d] < kExtents[l_d] ? l_m.factor[l_d] : kExtents[l_d];
          break;
        case PartitionKind::complete:
          l_banks = kExtents[l_d];
          break;
        case PartitionKind::none:
          break;
      }
      l_allComplete = l_allComplete && (l_m.kind[l_d] == PartitionKind::complete || kExtents[l_d] == 1);
      l_m.banks_along[l_d] = l_banks;
    }
    l_m.banks = 1;
    for (unsigned l_d = kRank; l_d-- > 0;) {
      l_m.bank_weight[l_d] = l_m.banks;
      l_m.banks *= l_m.banks_along[l_d];
    }
    l_m.registers = l_allComplete;
    l_m.stamp.assign(l_m.banks, 0);
    l_m.reads.assign(l_m.banks, 0);
    l_m.writes.assign(l_m.banks, 0);
    l_m.layout_ready = true;
  }

  std::size_t bank_of(std::size_t p_flat) const {
    std::size_t l_bank = 0;
    for (unsigned l_d = 0; l_d < kRank; ++l_d) {
      const std::size_t l_index = (p_flat / m_meta.stride[l_d]) % kExtents[l_d];
      std::size_t l_along = 0;
      switch (m_meta.kind[l_d]) {
        case PartitionKind::cyclic:
          l_along = l_index % m_meta.banks_along[l_d];
          break;
        case PartitionKind::block: {
          const std::size_t l_block = (kExtents[l_d] + m_meta.banks_along[l_d] - 1) / m_meta.banks_along[l_d];
          l_along = l_index / l_block;
          break;
        }
        case PartitionKind::complete:
          l_along = l_index;
          break;
        case PartitionKind::none:
          break;
      }
      l_bank += l_along * m_meta.bank_weight[l_d];
    }
    return l_bank;
  }

  /// Counts one access to element p_flat in the running pipelined iteration.
  void note(std::size_t p_flat, bool p_write) const {
    Process* const l_process = current_process();
    if (l_process == nullptr || l_process->pipeline() == nullptr) {
      return;
    }
    PipelinedLoop& l_loop = *l_process->pipeline();
    const uint64_t l_epoch = l_loop.epoch();
    if (l_epoch == 0) {
      return;
    }
    if (!m_meta.layout_ready) {
      prepare_layout();
    }
    if (m_meta.registers && !p_write) {
      return;
    }
    Meta& l_m = m_meta;
    if (l_m.epoch != l_epoch) {
      l_m.epoch = l_epoch;
      l_m.worst_accesses = 0;
      l_m.worst_ii = 1;
      l_loop.touched(this);
    }
    const std::size_t l_bank = bank_of(p_flat);
    if (l_m.stamp[l_bank] != l_epoch) {
      l_m.stamp[l_bank] = l_epoch;
      l_m.reads[l_bank] = 0;
      l_m.writes[l_bank] = 0;
    }
    const unsigned l_lanes = l_m.aggregated ? 1 : ElementLanes<T>::kValue;
    (p_write ? l_m.writes : l_m.reads)[l_bank] += l_lanes;
    const unsigned l_r = l_m.reads[l_bank];
    const unsigned l_w = l_m.writes[l_bank];
    unsigned l_ii = 1;
    switch (l_m.storage) {
      case StorageKind::ram_s2p:
        l_ii = l_r > l_w ? l_r : l_w;
        break;
      case StorageKind::ram_1p:
      case StorageKind::rom_1p:
        l_ii = l_r + l_w;
        break;
      default:
        l_ii = (l_r + l_w + 1) / 2;
        break;
    }
    if (l_m.registers) {
      l_ii = 1;  // a register takes one write per cycle: fine as long as writes differ
    }
    if (l_ii > l_m.worst_ii || l_r + l_w > l_m.worst_accesses) {
      l_m.worst_ii = l_ii > l_m.worst_ii ? l_ii : l_m.worst_ii;
      l_m.worst_accesses = l_r + l_w > l_m.worst_accesses ? l_r + l_w : l_m.worst_accesses;
    }
  }

  T m_data[kSize];
  mutable Meta m_meta;
};

/// Indexing of an Array, one dimension at a time (t_Dim indices taken so far).
template <class t_Array, unsigned t_Dim>
class ArrayView {
 public:
  ArrayView(t_Array* p_array, std::size_t p_base) : m_array(p_array), m_base(p_base) {}

  auto operator[](std::size_t p_i) const {
    using Plain = typename std::remove_const<t_Array>::type;
    constexpr std::size_t l_stride = stride();
    if constexpr (t_Dim + 1 == Plain::kRank) {
      if constexpr (std::is_const<t_Array>::value) {
        return ArrayConstRef<Plain>(m_array, m_base + p_i);
      } else {
        return ArrayRef<Plain>(m_array, m_base + p_i);
      }
    } else {
      return ArrayView<t_Array, t_Dim + 1>(m_array, m_base + p_i * l_stride);
    }
  }

 private:
  static constexpr std::size_t stride() {
    using Plain = typename std::remove_const<t_Array>::type;
    std::size_t l_s = 1;
    for (unsigned l_d = t_Dim + 1; l_d < Plain::kRank; ++l_d) {
      l_s *= Plain::kExtents[l_d];
    }
    return l_s;
  }

  t_Array* m_array;
  std::size_t m_base;
};

}  // namespace csim
}  // namespace fibha

#endif  // FIBHA_CSIM_MEMORY_HPP
