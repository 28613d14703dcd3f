// Declarations of the vendor's hls::stream interface, for one check only: `make csim`
// compiles the synthesizable sources as Vitis HLS sees them (-D__SYNTHESIS__, C++14) with
// -fsyntax-only, where the real <hls_stream.h> is absent. Nothing links against it.
#ifndef FIBHA_SYNTAX_HLS_STREAM_H
#define FIBHA_SYNTAX_HLS_STREAM_H

namespace hls {

template <typename T, int t_Depth = 0>
class stream {
 public:
  stream();
  explicit stream(const char* p_name);
  T read();
  void read(T& p_value);
  void write(const T& p_value);
  bool read_nb(T& p_value);
  bool write_nb(const T& p_value);
  bool empty() const;
  bool full() const;
};

}  // namespace hls

#endif  // FIBHA_SYNTAX_HLS_STREAM_H
