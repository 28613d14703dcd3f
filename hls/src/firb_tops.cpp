// Top functions of the FIRB instances (see instances.hpp), each forwarding to Firb::run.
#include "instances.hpp"

/// Defines a FIRB instance top declared with FIBHA_DECLARE_FIRB_TOP.
#define FIBHA_DEFINE_FIRB_TOP(name, F)                                                                   \
  FIBHA_DECLARE_FIRB_TOP(name, F) {                                                                      \
    F::run(p_in, p_out, p_p);                                                                            \
  }

FIBHA_DEFINE_FIRB_TOP(firb_b0_top, fibha::inst::FirbB0)
FIBHA_DEFINE_FIRB_TOP(firb_b1_top, fibha::inst::FirbB1)
FIBHA_DEFINE_FIRB_TOP(firb_b2_top, fibha::inst::FirbB2)
