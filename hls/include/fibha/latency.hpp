// Operator latencies the engines declare their pipeline depths from (FIBHA_PIPELINED_FOR).
//
// These are estimates of how Vitis HLS 2023.2 schedules each operator at 200 MHz on an
// UltraScale+ part (xczu9eg-2), stated once so that every loop's depth is a sum of named
// parts rather than a number of its own. The depth only matters once per loop entry (the
// pipeline's fill and drain); the II, which sets the throughput, is checked by the
// schedule check. A csynth report lists each loop's real "Iteration Latency": where Vitis
// is at hand, compare it with the depth the loop declares (hls/README.md).
#ifndef FIBHA_LATENCY_HPP
#define FIBHA_LATENCY_HPP

namespace fibha {
namespace latency {

/// ceil(log2(n)) for n >= 1: levels of a balanced adder tree over n terms.
constexpr unsigned ceil_log2(unsigned p_n) { return p_n <= 1 ? 0 : 1 + ceil_log2((p_n + 1) / 2); }

/// Reading a FIFO (the data is registered in the next state).
constexpr unsigned kStreamRead = 1;
/// Writing a FIFO.
constexpr unsigned kStreamWrite = 1;
/// Reading a block RAM: address register and the BRAM's output register.
constexpr unsigned kBramRead = 2;
/// An 8 x 8-bit multiply in a DSP48E2 with its input, multiplier and output registers.
constexpr unsigned kMultiply = 3;
/// One level of an adder tree (two 32-bit additions fit one 5 ns cycle).
constexpr unsigned kAddLevel = 1;
/// TFLite's requantization: a 32 x 32-bit multiply (a cascade of DSP48E2), the rounding
/// shifts, the zero point and the clamp.
constexpr unsigned kRequantize = 6;
/// The ADD operator's rescaling: two input multiplies in parallel, then the output's.
constexpr unsigned kAddRequantize = 2 * kRequantize;
/// A loop body that moves one word (read it, write it).
constexpr unsigned kCopy = kStreamRead + kStreamWrite;

/// Depth of a multiply-accumulate step over p_lanes products: operand read, multiply,
/// adder tree, accumulate.
constexpr unsigned mac(unsigned p_lanes) { return kBramRead + kMultiply + ceil_log2(p_lanes) * kAddLevel + 1; }

}  // namespace latency
}  // namespace fibha

#endif  // FIBHA_LATENCY_HPP
