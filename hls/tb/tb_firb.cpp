// Testbench of the FIRB engine (fibha/firb.hpp): random bottlenecks covering expansion
// t = 1 (no expand layer), 2, 3, 4 and 6, stride 1 and 2, kernel 3 and 5, with and without
// the residual ADD, odd sizes and SIMD/PE from 1 up; and MobileNetV2's bottlenecks 0, 1
// and 2 as instances. Each is compared byte for byte with expand -> depthwise -> project
// (-> add) computed by the nested-loop reference. The skip FIFO is declared with the
// depth the header's kSkipFifoWords states; the C model fails if it would overflow.
// Goldens with --golden DIR (op firb).
#include <cstdio>
#include <string>
#include <vector>

#include "fibha/firb.hpp"
#include "golden.hpp"
#include "instances.hpp"
#include "ref_bottleneck.hpp"
#include "ref_ops.hpp"
#include "tb_common.hpp"

namespace {

using namespace fibha;

using Block = tb::Bottleneck;

std::vector<int8_t> reference(const Block& p_b, const std::vector<int8_t>& p_in) { return tb::run_reference(p_b, p_in); }

/// Runs engine F through p_run and compares with the reference.
template <class F, class t_Run>
void check_case(const std::string& p_name, const Block& p_b, const std::vector<int8_t>& p_in,
                const std::vector<int8_t>& p_want, t_Run p_run) {
  auto l_p = tb::make_box<typename F::Params>();
  tb::fill_firb(l_p->value, p_b);
  const std::vector<int8_t> l_got = tb::run_streaming<sizeof(typename F::InWord), sizeof(typename F::OutWord)>(
      p_name, p_in, p_want.size(), [&](auto& p_i, auto& p_o) { p_run(p_i, p_o, l_p->value); });
  tb::compare(p_name, l_got, p_want, static_cast<int>(F::kOutW), static_cast<int>(F::kOutC));
}

/// Random parameters for the bottleneck shape of F.
template <class F>
Block random_block(tb::Rng& p_rng, int p_inH, int p_inW, int p_inC, int p_expand, int p_k, int p_stride) {
  const int32_t l_inZp = static_cast<int32_t>(p_rng.uniform(-128, 127));
  return tb::random_bottleneck(p_rng, p_inH, p_inW, p_inC, p_expand, static_cast<int>(F::kOutC), p_k, p_stride,
                               F::kSkip, l_inZp);
}

template <unsigned t_H, unsigned t_W, unsigned t_InC, unsigned t_T, unsigned t_OutC, unsigned t_K, unsigned t_S,
          bool t_Skip, unsigned t_SimdE, unsigned t_PeE, unsigned t_SimdD, unsigned t_SimdP, unsigned t_PeP>
void random_case(const std::string& p_name, uint32_t p_seed) {
  using F = Firb<t_H, t_W, t_InC, t_T, t_OutC, t_K, t_S, t_Skip, t_SimdE, t_PeE, t_SimdD, t_SimdP, t_PeP>;
  tb::Rng l_rng(p_seed);
  const Block l_b = random_block<F>(l_rng, t_H, t_W, t_InC, t_T, t_K, t_S);
  const std::vector<int8_t> l_in = tb::random_bytes(l_rng, size_t{t_H} * t_W * t_InC);
  check_case<F>(p_name, l_b, l_in, reference(l_b, l_in), [](auto&... p_args) { F::run(p_args...); });
}

/// One MobileNetV2 bottleneck instance through its top function.
template <class F, class t_Top>
void instance_case(const std::string& p_name, uint32_t p_seed, int p_inH, int p_inW, int p_inC, int p_expand,
                   int p_stride, t_Top p_top) {
  tb::Rng l_rng(p_seed);
  const Block l_b = random_block<F>(l_rng, p_inH, p_inW, p_inC, p_expand, 3, p_stride);
  const std::vector<int8_t> l_in = tb::random_bytes(l_rng, static_cast<size_t>(p_inH) * p_inW * p_inC);
  check_case<F>(p_name, l_b, l_in, reference(l_b, l_in), p_top);
}

/// Reads a golden bottleneck (op firb) into a Block.
Block golden_block(tb::Golden& p_g) {
  Block l_b;
  l_b.in_h = p_g.i32("in_h");
  l_b.in_w = p_g.i32("in_w");
  l_b.in_c = p_g.i32("in_c");
  l_b.expand = p_g.i32("expand");
  l_b.out_c = p_g.i32("out_c");
  l_b.k = p_g.i32("kernel");
  l_b.stride = p_g.i32("stride");
  l_b.skip = p_g.i32("skip") != 0;
  if (!p_g.ok() || l_b.in_c <= 0 || l_b.expand <= 0 || l_b.out_c <= 0 || l_b.k <= 0) {
    tb::fail("golden " + p_g.dir() + ": bad bottleneck shape");
    return l_b;
  }
  const size_t l_exp = static_cast<size_t>(l_b.in_c) * l_b.expand;
  if (l_b.expand != 1) {
    l_b.exp_w = p_g.bytes("expand.weights.bin", l_exp * l_b.in_c);
    l_b.exp_cq = p_g.channel_quant("expand.", l_exp);
    l_b.exp_q = p_g.quant("expand.");
  }
  l_b.dw_w = p_g.bytes("dw.weights.bin", static_cast<size_t>(l_b.k) * l_b.k * l_exp);
  l_b.dw_cq = p_g.channel_quant("dw.", l_exp);
  l_b.dw_q = p_g.quant("dw.");
  l_b.proj_w = p_g.bytes("project.weights.bin", static_cast<size_t>(l_b.out_c) * l_exp);
  l_b.proj_cq = p_g.channel_quant("project.", static_cast<size_t>(l_b.out_c));
  l_b.proj_q = p_g.quant("project.");
  if (l_b.skip) {
    l_b.add = p_g.add_params("add.");
  }
  return l_b;
}

template <class F, class t_Top>
bool golden_instance(const std::string& p_label, const Block& p_b, const std::vector<int8_t>& p_in,
                     const std::vector<int8_t>& p_want, int p_inH, int p_inC, int p_expand, int p_stride, t_Top p_top) {
  if (p_b.in_h != p_inH || p_b.in_w != p_inH || p_b.in_c != p_inC || p_b.expand != p_expand ||
      p_b.out_c != static_cast<int>(F::kOutC) || p_b.k != 3 || p_b.stride != p_stride || p_b.skip != F::kSkip) {
    return false;
  }
  check_case<F>(p_label, p_b, p_in, p_want, p_top);
  return true;
}

void golden_case(const std::string& p_dir) {
  tb::Golden l_g(p_dir);
  if (!tb::expect_op(l_g, "firb", "tb_firb")) {
    return;
  }
  const Block l_b = golden_block(l_g);
  const std::vector<int8_t> l_in = l_g.bytes("input.bin", static_cast<size_t>(l_b.in_h) * l_b.in_w * l_b.in_c);
  const int l_outH = (l_b.in_h + l_b.stride - 1) / l_b.stride;
  const int l_outW = (l_b.in_w + l_b.stride - 1) / l_b.stride;
  const std::vector<int8_t> l_want = l_g.bytes("expected.bin", static_cast<size_t>(l_outH) * l_outW * l_b.out_c);
  if (!l_g.ok()) {
    return;
  }
  tb::compare("golden " + p_dir + " (reference)", reference(l_b, l_in), l_want, l_outW, l_b.out_c);
  const std::string l_label = "golden " + p_dir;
  const bool l_ran =
      golden_instance<inst::FirbB0>(l_label + " (firb_b0_top)", l_b, l_in, l_want, 112, 32, 1, 1, firb_b0_top) ||
      golden_instance<inst::FirbB1>(l_label + " (firb_b1_top)", l_b, l_in, l_want, 112, 16, 6, 2, firb_b1_top) ||
      golden_instance<inst::FirbB2>(l_label + " (firb_b2_top)", l_b, l_in, l_want, 56, 24, 6, 1, firb_b2_top);
  if (!l_ran) {
    tb::fail("golden " + p_dir + ": the bottleneck matches none of firb_b0_top, firb_b1_top, firb_b2_top");
  }
}

}  // namespace

int main(int p_argc, char** p_argv) {
  return tb::run_bench(p_argc, p_argv, "tb_firb", golden_case, [] {
    std::printf("tb_firb: random bottlenecks against expand -> dw -> project (-> add)\n");
    random_case<7, 9, 8, 1, 8, 3, 1, true, 4, 4, 4, 4, 4>("firb 7x9x8 t1 ->8 k3 s1 skip (odd)", 31);
    random_case<8, 8, 8, 1, 12, 3, 2, false, 4, 4, 4, 4, 4>("firb 8x8x8 t1 ->12 k3 s2", 32);
    random_case<9, 7, 8, 6, 8, 3, 1, true, 4, 8, 8, 16, 4>("firb 9x7x8 t6 ->8 k3 s1 skip", 33);
    random_case<10, 10, 8, 6, 16, 3, 2, false, 8, 8, 8, 8, 8>("firb 10x10x8 t6 ->16 k3 s2", 34);
    random_case<9, 11, 4, 3, 4, 5, 1, true, 2, 4, 4, 6, 2>("firb 9x11x4 t3 ->4 k5 s1 skip", 35);
    random_case<11, 10, 6, 4, 8, 5, 2, false, 3, 8, 8, 4, 4>("firb 11x10x6 t4 ->8 k5 s2", 36);
    random_case<6, 5, 6, 2, 6, 5, 1, false, 6, 12, 12, 12, 6>("firb 6x5x6 t2 ->6 k5 s1 (no skip)", 37);
    random_case<3, 3, 4, 2, 4, 3, 1, true, 1, 1, 1, 1, 1>("firb 3x3x4 t2 ->4 k3 s1 skip, all parallelism 1", 38);
    random_case<1, 1, 8, 2, 8, 3, 1, true, 8, 8, 8, 8, 8>("firb 1x1x8 t2 ->8 k3 s1 skip (single pixel)", 39);
    random_case<5, 4, 4, 1, 4, 5, 1, true, 2, 2, 2, 4, 4>("firb 5x4x4 t1 ->4 k5 s1 skip", 40);

    std::printf("tb_firb: MobileNetV2 bottleneck instances\n");
    instance_case<inst::FirbB0>("firb_b0_top 112x112x32 t1 ->16 s1", 300, 112, 112, 32, 1, 1, firb_b0_top);
    instance_case<inst::FirbB1>("firb_b1_top 112x112x16 t6 ->56x56x24 s2", 301, 112, 112, 16, 6, 2, firb_b1_top);
    instance_case<inst::FirbB2>("firb_b2_top 56x56x24 t6 ->24 s1 skip", 302, 56, 56, 24, 6, 1, firb_b2_top);
  });
}
