// Reference int8 operators for the testbenches: TFLite's reference-kernel formulas as
// plain nested loops over runtime shapes, written independently of the engines.
//
// The fixed-point primitives are restated here in a different but equivalent form
// (floor shifts in 64 bits instead of gemmlowp's nudged truncating division), so a slip
// in fibha/arith.hpp cannot cancel out in a comparison; tb_arith checks the two forms
// against each other and against hand-computed values.
//
// Layouts are TFLite's: activations NHWC (N = 1); conv weights OHWI; depthwise weights
// [1][K][K][C]; pointwise weights [O][1][1][I].
#ifndef FIBHA_TB_REF_OPS_HPP
#define FIBHA_TB_REF_OPS_HPP

#include <cstdint>
#include <vector>

#include "fibha/types.hpp"

namespace fibha {
namespace ref {

/// Geometry of a conv-like layer with explicit padding (what the compiler emits).
struct ConvShape {
  int in_h = 0, in_w = 0, in_c = 0;
  int out_h = 0, out_w = 0, out_c = 0;
  int k = 1, stride = 1;
  int pad_top = 0, pad_left = 0;
};

/// Per-output-channel bias and requantization.
struct ChannelQuant {
  std::vector<int32_t> bias, mult, shift;
};

/// TFLite's output size and leading padding for SAME/VALID (dilation 1).
inline void window_geometry(int p_in, int p_k, int p_stride, Padding p_pad, int& p_out, int& p_padBefore) {
  if (p_pad == Padding::kSame) {
    p_out = (p_in + p_stride - 1) / p_stride;
    const int l_total = (p_out - 1) * p_stride + p_k - p_in;
    p_padBefore = l_total > 0 ? l_total / 2 : 0;
  } else {
    p_out = (p_in - p_k) / p_stride + 1;
    p_padBefore = 0;
  }
}

/// A ConvShape from input size, channels, kernel, stride and TFLite padding.
inline ConvShape make_shape(int p_h, int p_w, int p_inC, int p_outC, int p_k, int p_stride, Padding p_pad) {
  ConvShape l_s;
  l_s.in_h = p_h;
  l_s.in_w = p_w;
  l_s.in_c = p_inC;
  l_s.out_c = p_outC;
  l_s.k = p_k;
  l_s.stride = p_stride;
  window_geometry(p_h, p_k, p_stride, p_pad, l_s.out_h, l_s.pad_top);
  window_geometry(p_w, p_k, p_stride, p_pad, l_s.out_w, l_s.pad_left);
  return l_s;
}

/// a * b / 2^31, nearest, exact halves toward +infinity; saturates INT32_MIN^2.
inline int32_t srdhm(int32_t p_a, int32_t p_b) {
  if (p_a == INT32_MIN && p_b == INT32_MIN) {
    return INT32_MAX;
  }
  const int64_t l_p = static_cast<int64_t>(p_a) * p_b;
  // Floor division by 2^31 of p + 2^30 (>> on int64 is a floor shift).
  return static_cast<int32_t>((l_p + (int64_t{1} << 30)) >> 31);
}

/// x / 2^e, nearest, exact halves away from zero.
inline int32_t rdbpot(int32_t p_x, int p_e) {
  if (p_e == 0) {
    return p_x;
  }
  const int64_t l_x = p_x;
  const int64_t l_half = int64_t{1} << (p_e - 1);
  return static_cast<int32_t>(l_x >= 0 ? (l_x + l_half) >> p_e : -((-l_x + l_half) >> p_e));
}

/// TFLite's MultiplyByQuantizedMultiplier (double rounding), int32 wrap on the left shift.
inline int32_t scale(int32_t p_x, int32_t p_mult, int p_shift) {
  const int l_left = p_shift > 0 ? p_shift : 0;
  const int l_right = p_shift > 0 ? 0 : -p_shift;
  const int32_t l_shifted = static_cast<int32_t>(static_cast<uint32_t>(p_x) * (uint32_t{1} << l_left));
  return rdbpot(srdhm(l_shifted, p_mult), l_right);
}

/// Output zero point and clamp.
inline int8_t finish(int64_t p_scaled, int32_t p_zp, int32_t p_min, int32_t p_max) {
  int64_t l_v = p_scaled + p_zp;
  if (l_v < p_min) {
    l_v = p_min;
  }
  if (l_v > p_max) {
    l_v = p_max;
  }
  return static_cast<int8_t>(l_v);
}

/// int32 sum with wrap-around (the hardware adder).
inline int32_t wrapping(int64_t p_v) { return static_cast<int32_t>(static_cast<uint32_t>(static_cast<uint64_t>(p_v))); }

/// The shared walk of a K x K layer: for every output pixel and channel oc, sums
/// p_tap(iy, ix, ky, kx, oc) (the tap's zero-point-corrected products) over the window
/// taps inside the input, since padding contributes nothing, then adds the bias and
/// requantizes.
template <class t_Tap>
std::vector<int8_t> window_layer(const ConvShape& p_s, const ChannelQuant& p_cq, const QuantParams& p_q, t_Tap p_tap) {
  std::vector<int8_t> l_out(static_cast<size_t>(p_s.out_h) * p_s.out_w * p_s.out_c);
  for (int l_oy = 0; l_oy < p_s.out_h; ++l_oy) {
    for (int l_ox = 0; l_ox < p_s.out_w; ++l_ox) {
      for (int l_oc = 0; l_oc < p_s.out_c; ++l_oc) {
        int64_t l_acc = 0;
        for (int l_ky = 0; l_ky < p_s.k; ++l_ky) {
          for (int l_kx = 0; l_kx < p_s.k; ++l_kx) {
            const int l_iy = l_oy * p_s.stride - p_s.pad_top + l_ky;
            const int l_ix = l_ox * p_s.stride - p_s.pad_left + l_kx;
            if (l_iy >= 0 && l_iy < p_s.in_h && l_ix >= 0 && l_ix < p_s.in_w) {
              l_acc += p_tap(l_iy, l_ix, l_ky, l_kx, l_oc);
            }
          }
        }
        const int32_t l_total = wrapping(l_acc + p_cq.bias[l_oc]);
        const int32_t l_scaled = scale(l_total, p_cq.mult[l_oc], p_cq.shift[l_oc]);
        l_out[(static_cast<size_t>(l_oy) * p_s.out_w + l_ox) * p_s.out_c + l_oc] =
            finish(l_scaled, p_q.out_zp, p_q.act_min, p_q.act_max);
      }
    }
  }
  return l_out;
}

/// TFLite per-channel int8 CONV_2D (reference_integer_ops::ConvPerChannel), dilation 1; with
/// a filter zero point, the uint8 kernel's products (reference_ops::Conv) on values stored
/// minus 128.
inline std::vector<int8_t> conv(const ConvShape& p_s, const std::vector<int8_t>& p_in, const std::vector<int8_t>& p_w,
                                const ChannelQuant& p_cq, const QuantParams& p_q) {
  return window_layer(p_s, p_cq, p_q, [&](int p_iy, int p_ix, int p_ky, int p_kx, int p_oc) {
    int64_t l_sum = 0;
    for (int l_ic = 0; l_ic < p_s.in_c; ++l_ic) {
      const int32_t l_x = p_in[(static_cast<size_t>(p_iy) * p_s.in_w + p_ix) * p_s.in_c + l_ic];
      const int32_t l_wv = p_w[((static_cast<size_t>(p_oc) * p_s.k + p_ky) * p_s.k + p_kx) * p_s.in_c + l_ic];
      l_sum += (l_x - p_q.in_zp) * (l_wv - p_q.w_zp);
    }
    return l_sum;
  });
}

/// TFLite per-channel int8 DEPTHWISE_CONV_2D, depth multiplier 1, dilation 1.
inline std::vector<int8_t> depthwise(const ConvShape& p_s, const std::vector<int8_t>& p_in,
                                     const std::vector<int8_t>& p_w, const ChannelQuant& p_cq, const QuantParams& p_q) {
  return window_layer(p_s, p_cq, p_q, [&](int p_iy, int p_ix, int p_ky, int p_kx, int p_c) {
    const int32_t l_x = p_in[(static_cast<size_t>(p_iy) * p_s.in_w + p_ix) * p_s.in_c + p_c];
    const int32_t l_wv = p_w[(static_cast<size_t>(p_ky) * p_s.k + p_kx) * p_s.out_c + p_c];
    return static_cast<int64_t>((l_x - p_q.in_zp) * (l_wv - p_q.w_zp));
  });
}

/// Global average pooling of an h x w x c map into c values, written from TFLite's kernels:
/// with p_divide AVERAGE_POOL_2D (reference_integer_ops::AveragePool: the sum, less the zero
/// point per value here so that a uint8 map stored minus 128 sums its raw values, divided by
/// the count with C's truncating division after adding or subtracting half the count), else
/// MEAN (reference_ops::QuantizedMeanOrSum: the zero-point-corrected sum scaled by the
/// channel's multiplier and shift, the count already absorbed into them).
inline std::vector<int8_t> global_pool(const ConvShape& p_s, const std::vector<int8_t>& p_in, const ChannelQuant& p_cq,
                                       const QuantParams& p_q, bool p_divide) {
  const int32_t l_n = p_s.in_h * p_s.in_w;
  std::vector<int8_t> l_out(static_cast<size_t>(p_s.in_c));
  for (int l_c = 0; l_c < p_s.in_c; ++l_c) {
    int32_t l_sum = 0;
    for (int l_p = 0; l_p < l_n; ++l_p) {
      l_sum += p_in[static_cast<size_t>(l_p) * p_s.in_c + l_c] - p_q.in_zp;
    }
    const int32_t l_avg = l_sum > 0 ? (l_sum + l_n / 2) / l_n : (l_sum - l_n / 2) / l_n;
    const int32_t l_scaled = p_divide ? l_avg : scale(l_sum, p_cq.mult[l_c], p_cq.shift[l_c]);
    l_out[static_cast<size_t>(l_c)] = finish(l_scaled, p_q.out_zp, p_q.act_min, p_q.act_max);
  }
  return l_out;
}

/// TFLite int8 ADD of two equally shaped tensors (reference_integer_ops::AddFunc);
/// a is TFLite's input1 in the AddParams naming, b input2.
inline std::vector<int8_t> add(const std::vector<int8_t>& p_a, const std::vector<int8_t>& p_b, const AddParams& p_p) {
  std::vector<int8_t> l_out(p_a.size());
  for (size_t l_i = 0; l_i < p_a.size(); ++l_i) {
    const int32_t l_a = (p_a[l_i] - p_p.a_zp) * (1 << p_p.left_shift);
    const int32_t l_b = (p_b[l_i] - p_p.b_zp) * (1 << p_p.left_shift);
    const int32_t l_as = rdbpot(srdhm(l_a, p_p.a_mult), -p_p.a_shift);
    const int32_t l_bs = rdbpot(srdhm(l_b, p_p.b_mult), -p_p.b_shift);
    const int32_t l_sum = rdbpot(srdhm(l_as + l_bs, p_p.out_mult), -p_p.out_shift);
    l_out[l_i] = finish(l_sum, p_p.out_zp, p_p.act_min, p_p.act_max);
  }
  return l_out;
}

}  // namespace ref
}  // namespace fibha

#endif  // FIBHA_TB_REF_OPS_HPP
