// Testbench side of fibha/params.hpp: a stage's on-chip parameters filled from a layer in
// TFLite's layouts (weights row-major [out][K*K*in] or [K*K][C], per-channel tables), the
// way the kernel's loaders fill them from a bundle. Used by every engine testbench, so
// the engines see weights in exactly their memories' layouts.
#ifndef FIBHA_TB_FILL_PARAMS_HPP
#define FIBHA_TB_FILL_PARAMS_HPP

#include <cstdint>
#include <string>
#include <vector>

#include "fibha/params.hpp"
#include "ref_ops.hpp"

namespace fibha {
namespace tb {

void fail(const std::string& p_what);

/// Copies the per-channel tables into a stage's bias, multiplier and shift memories.
template <class t_P>
void fill_tables(t_P& p_p, const ref::ChannelQuant& p_cq, std::size_t p_channels) {
  if (p_cq.bias.size() != p_channels) {
    fail("fill_tables: " + std::to_string(p_cq.bias.size()) + " channels for a stage of " + std::to_string(p_channels));
    return;
  }
  for (std::size_t l_c = 0; l_c < p_channels; ++l_c) {
    p_p.bias.data()[l_c] = p_cq.bias[l_c];
    p_p.mult.data()[l_c] = p_cq.mult[l_c];
    p_p.shift.data()[l_c] = p_cq.shift[l_c];
  }
}

/// An MVAU stage from W[MatH][MatW] (row-major) and its tables.
template <class t_M, class t_Rq>
void fill(MvauParams<t_M, t_Rq>& p_p, const std::vector<int8_t>& p_w, const ref::ChannelQuant& p_cq,
          const QuantParams& p_q) {
  if (p_w.size() != std::size_t{t_M::kMatH} * t_M::kMatW) {
    fail("fill: " + std::to_string(p_w.size()) + " weights for an MVAU of " + std::to_string(t_M::kMatH) + " x " +
         std::to_string(t_M::kMatW));
    return;
  }
  constexpr unsigned kCols = t_M::kNf * t_M::kSf;
  for (unsigned l_o = 0; l_o < t_M::kMatH; ++l_o) {
    for (unsigned l_i = 0; l_i < t_M::kMatW; ++l_i) {
      const unsigned l_pe = l_o % t_M::kPe;
      const unsigned l_col = (l_o / t_M::kPe) * t_M::kSf + l_i / t_M::kSimd;
      p_p.w.data()[l_pe * kCols + l_col].v[l_i % t_M::kSimd] = p_w[std::size_t{l_o} * t_M::kMatW + l_i];
    }
  }
  fill_tables(p_p, p_cq, t_M::kMatH);
  p_p.q = p_q;
}

/// A depthwise stage from W[taps][C] and its tables.
template <class t_D, class t_Rq>
void fill(DwParams<t_D, t_Rq>& p_p, const std::vector<int8_t>& p_w, const ref::ChannelQuant& p_cq,
          const QuantParams& p_q) {
  if (p_w.size() != std::size_t{t_D::kTaps} * t_D::kC) {
    fail("fill: " + std::to_string(p_w.size()) + " weights for a depthwise stage of " + std::to_string(t_D::kTaps) +
         " x " + std::to_string(t_D::kC));
    return;
  }
  for (unsigned l_t = 0; l_t < t_D::kTaps; ++l_t) {
    for (unsigned l_c = 0; l_c < t_D::kC; ++l_c) {
      p_p.w.data()[(l_c / t_D::kSimd) * t_D::kTaps + l_t].v[l_c % t_D::kSimd] = p_w[std::size_t{l_t} * t_D::kC + l_c];
    }
  }
  fill_tables(p_p, p_cq, t_D::kC);
  p_p.q = p_q;
}

}  // namespace tb
}  // namespace fibha

#endif  // FIBHA_TB_FILL_PARAMS_HPP
