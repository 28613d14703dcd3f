// Testbench of fibha/arith.hpp, TFLite's int8 fixed-point arithmetic: hand-computed
// values (exact halves of both signs, saturation, shifts at their limits), a randomized
// differential test against the independently written primitives in ref_ops.hpp
// (including inputs built to land on exact halves), and the int8 ADD over every pair
// of inputs for several parameter sets.
#include <cstdint>
#include <cstdio>
#include <string>
#include <vector>

#include "fibha/arith.hpp"
#include "ref_ops.hpp"
#include "tb_common.hpp"

namespace {

using namespace fibha;

void expect_eq(const std::string& p_what, int64_t p_got, int64_t p_want) {
  if (p_got != p_want) {
    tb::fail(p_what + ": got " + std::to_string(p_got) + ", expected " + std::to_string(p_want));
  }
}

void known_values() {
  expect_eq("srdhm(2^30, 2^30)", saturating_rounding_doubling_high_mul(1 << 30, 1 << 30), 1 << 29);
  expect_eq("srdhm(MIN, MIN) saturates", saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MIN), INT32_MAX);
  expect_eq("srdhm(MIN, MAX)", saturating_rounding_doubling_high_mul(INT32_MIN, INT32_MAX), -2147483647);
  expect_eq("srdhm(1, 2^30) = +0.5 rounds up", saturating_rounding_doubling_high_mul(1, 1 << 30), 1);
  expect_eq("srdhm(-1, 2^30) = -0.5 rounds up", saturating_rounding_doubling_high_mul(-1, 1 << 30), 0);
  expect_eq("srdhm(-3, 2^30) = -1.5 rounds up", saturating_rounding_doubling_high_mul(-3, 1 << 30), -1);
  expect_eq("srdhm(3, 2^30) = 1.5 rounds up", saturating_rounding_doubling_high_mul(3, 1 << 30), 2);
  expect_eq("srdhm(1000, 0.7071)", saturating_rounding_doubling_high_mul(1000, 1518500250), 707);
  expect_eq("rdbpot(5, 1) = 2.5", rounding_divide_by_pot(5, 1), 3);
  expect_eq("rdbpot(-5, 1) = -2.5", rounding_divide_by_pot(-5, 1), -3);
  expect_eq("rdbpot(-4, 1)", rounding_divide_by_pot(-4, 1), -2);
  expect_eq("rdbpot(7, 2) = 1.75", rounding_divide_by_pot(7, 2), 2);
  expect_eq("rdbpot(-6, 2) = -1.5", rounding_divide_by_pot(-6, 2), -2);
  expect_eq("rdbpot(-5, 2) = -1.25", rounding_divide_by_pot(-5, 2), -1);
  expect_eq("rdbpot(x, 0)", rounding_divide_by_pot(-12345, 0), -12345);
  expect_eq("rdbpot(MIN, 31)", rounding_divide_by_pot(INT32_MIN, 31), -1);
  expect_eq("rdbpot(MAX, 31)", rounding_divide_by_pot(INT32_MAX, 31), 1);
  expect_eq("rdbpot(2^30, 31) = 0.5", rounding_divide_by_pot(1 << 30, 31), 1);
  expect_eq("rdbpot(2^30 - 1, 31)", rounding_divide_by_pot((1 << 30) - 1, 31), 0);
  expect_eq("mbqm(100, 0.5, 0)", multiply_by_quantized_multiplier(100, 1 << 30, 0), 50);
  expect_eq("mbqm(100, 0.5, -1)", multiply_by_quantized_multiplier(100, 1 << 30, -1), 25);
  expect_eq("mbqm(-3, 0.5, -1): two roundings", multiply_by_quantized_multiplier(-3, 1 << 30, -1), -1);
  expect_eq("mbqm(3, 0.5, 1): left shift first", multiply_by_quantized_multiplier(3, 1 << 30, 1), 3);
  expect_eq("mbqm(1000, 0.7071, -3)", multiply_by_quantized_multiplier(1000, 1518500250, -3), 88);
  expect_eq("mbqm(-1000, 0.7071, -3)", multiply_by_quantized_multiplier(-1000, 1518500250, -3), -88);
  const QuantParams l_relu6{0, -128, -128, 23, 0};
  expect_eq("requantize clamps high", requantize(1 << 20, 1 << 30, 0, l_relu6), 23);
  expect_eq("requantize clamps low", requantize(-(1 << 20), 1 << 30, 0, l_relu6), -128);
  expect_eq("requantize adds zero point", requantize(200, 1 << 30, -2, l_relu6), -103);
  const QuantParams l_full{0, 127, -128, 127, 0};
  expect_eq("requantize saturates the zero point sum", requantize(INT32_MAX, INT32_MAX, 0, l_full), 127);
  expect_eq("wrap_add wraps", wrap_add(INT32_MAX, 1), INT32_MIN);
  // uint8 x = 200 (zp 128), w = 3 (zp 130): (200 - 128) * (3 - 130) = 72 * -127, every value
  // stored minus 128: x 72, zp 0, w -125, w_zp 2.
  expect_eq("mac_term with a filter zero point", mac_term(72, 0, -125, 2), -9144);
  expect_eq("mac_term extremes: uint8 255 - 0 times 0 - 255", mac_term(127, -128, -128, 127), -65025);
  expect_eq("mac_term without a filter zero point", mac_term(-128, 127, -128, 0), 32640);
}

void differential(uint32_t p_seed) {
  tb::Rng l_rng(p_seed);
  int l_reported = 0;
  for (int l_i = 0; l_i < 400000 && l_reported < 5; ++l_i) {
    int32_t l_x = static_cast<int32_t>(l_rng.uniform(INT32_MIN, INT32_MAX));
    int32_t l_m = static_cast<int32_t>(l_rng.uniform(0, INT32_MAX));
    switch (l_i % 4) {
      case 0:  // exact halves: odd multiples of 2^30 products
        l_m = 1 << 30;
        l_x = static_cast<int32_t>(l_rng.uniform(-100000, 100000));
        break;
      case 1:  // small accumulators, realistic multipliers
        l_x = static_cast<int32_t>(l_rng.uniform(-300000, 300000));
        l_m = static_cast<int32_t>(l_rng.uniform(int64_t{1} << 30, INT32_MAX));
        break;
      case 2:  // the extremes
        l_x = l_rng.uniform(0, 1) != 0 ? INT32_MIN + static_cast<int32_t>(l_rng.uniform(0, 3))
                                       : INT32_MAX - static_cast<int32_t>(l_rng.uniform(0, 3));
        break;
      default:
        break;
    }
    const int32_t l_shift = static_cast<int32_t>(l_rng.uniform(kMinShift, 8));
    const int32_t l_got = multiply_by_quantized_multiplier(l_x, l_m, l_shift);
    const int32_t l_want = ref::scale(l_x, l_m, l_shift);
    const int32_t l_e = static_cast<int32_t>(l_rng.uniform(0, 31));
    if (l_got != l_want || saturating_rounding_doubling_high_mul(l_x, l_m) != ref::srdhm(l_x, l_m) ||
        rounding_divide_by_pot(l_x, l_e) != ref::rdbpot(l_x, l_e)) {
      tb::fail("differential: x=" + std::to_string(l_x) + " mult=" + std::to_string(l_m) + " shift=" +
               std::to_string(l_shift) + " e=" + std::to_string(l_e) + ": arith and reference disagree");
      ++l_reported;
    }
  }
  if (l_reported == 0) {
    std::printf("  ok   400000 random (x, multiplier, shift) triples agree with the reference primitives\n");
  }
}

void add_exhaustive(uint32_t p_seed) {
  tb::Rng l_rng(p_seed);
  for (int l_set = 0; l_set < 6; ++l_set) {
    const AddParams l_p = tb::random_add_params(l_rng, static_cast<int32_t>(l_rng.uniform(-128, 127)),
                                                static_cast<int32_t>(l_rng.uniform(-128, 127)));
    std::vector<int8_t> l_a, l_b;
    for (int l_x = -128; l_x < 128; ++l_x) {
      for (int l_y = -128; l_y < 128; ++l_y) {
        l_a.push_back(static_cast<int8_t>(l_x));
        l_b.push_back(static_cast<int8_t>(l_y));
      }
    }
    std::vector<int8_t> l_got(l_a.size());
    for (size_t l_i = 0; l_i < l_a.size(); ++l_i) {
      l_got[l_i] = add_requantize(l_a[l_i], l_b[l_i], l_p);
    }
    if (!add_params_valid(l_p)) {
      tb::fail("random ADD parameters out of range");
    }
    tb::compare("add, all 65536 input pairs, parameter set " + std::to_string(l_set), l_got, ref::add(l_a, l_b, l_p),
                256, 256);
  }
}

}  // namespace

/// divide_round against C's division as TFLite's AVERAGE_POOL_2D writes it: every sum of
/// |sum| <= 255 n for n up to 64, and for every n up to kMaxRoundDividePixels the sums at
/// the ends of the range and around every multiple of n near them.
void round_divide_exhaustive() {
  const auto l_check = [](int32_t p_sum, uint32_t p_n) {
    int32_t l_recip = 0, l_log2 = 0;
    round_divide_reciprocal(p_n, &l_recip, &l_log2);
    const int32_t l_n = static_cast<int32_t>(p_n);
    const int32_t l_want = p_sum > 0 ? (p_sum + l_n / 2) / l_n : (p_sum - l_n / 2) / l_n;
    const int32_t l_got = divide_round(p_sum, p_n, l_recip, l_log2);
    if (l_got != l_want) {
      tb::fail("divide_round(" + std::to_string(p_sum) + ", " + std::to_string(p_n) + ") = " + std::to_string(l_got) +
               ", want " + std::to_string(l_want));
      return false;
    }
    return true;
  };
  uint64_t l_cases = 0;
  for (uint32_t l_n = 1; l_n <= 64; ++l_n) {
    const int32_t l_top = 255 * static_cast<int32_t>(l_n);
    for (int32_t l_sum = -l_top; l_sum <= l_top; ++l_sum, ++l_cases) {
      if (!l_check(l_sum, l_n)) {
        return;
      }
    }
  }
  for (uint32_t l_n = 65; l_n <= kMaxRoundDividePixels; ++l_n) {
    const int32_t l_top = 255 * static_cast<int32_t>(l_n);
    const int32_t l_n32 = static_cast<int32_t>(l_n);
    const int32_t l_half = l_n32 / 2;
    // Every offset from the multiples for the smaller counts; for the larger, the offsets
    // where the rounding changes (n / 2 and its neighbours) and where the quotient does.
    std::vector<int32_t> l_offsets;
    if (l_n <= 2048) {
      for (int32_t l_d = -l_half - 1; l_d <= l_half + 1; ++l_d) {
        l_offsets.push_back(l_d);
      }
    } else {
      l_offsets = {0, 1, 2, -1, -2, l_half - 1, l_half, l_half + 1, -l_half - 1, -l_half, -l_half + 1, l_n32 - 1};
    }
    for (const int32_t l_base : {0, l_top - l_top % l_n32, l_top / 2 - (l_top / 2) % l_n32}) {
      for (const int32_t l_d : l_offsets) {
        for (const int32_t l_sign : {1, -1}) {
          const int64_t l_sum = int64_t{l_sign} * (l_base + l_d);
          if (l_sum >= -l_top && l_sum <= l_top) {
            ++l_cases;
            if (!l_check(static_cast<int32_t>(l_sum), l_n)) {
              return;
            }
          }
        }
      }
    }
  }
  std::printf("  divide_round: %llu sums, as C's division rounds them\n", static_cast<unsigned long long>(l_cases));
}

int main(int p_argc, char** p_argv) {
  if (p_argc > 1) {
    tb::fail(std::string("tb_arith takes no arguments (got '") + p_argv[1] + "')");
  }
  std::printf("tb_arith: hand-computed values\n");
  known_values();
  std::printf("tb_arith: differential tests\n");
  differential(7);
  add_exhaustive(8);
  round_divide_exhaustive();
  return tb::finish("tb_arith");
}
