#include "brains/processors/driver.h"

#include <ATen/ATen.h>

#include <limits>

namespace brains::processors {

at::Tensor Driver::clipping_value() const {
  // A setup that does not know its saturation reports nothing it could clip.
  constexpr double inf = std::numeric_limits<double>::infinity();
  return at::tensor({-inf, inf}, at::kFloat);
}

}  // namespace brains::processors
