#include "brains/physics/random.h"

#include <string>

#include "brains/core/seed.h"

namespace brains::physics {

Rng::Rng(std::uint64_t seed, std::string_view stream, std::uint64_t index) {
  // The core helper keys the stream by name; the index is folded into the name so every
  // task gets an independent, reproducible state.
  std::string name(stream);
  name += '#';
  name += std::to_string(index);
  auto source = make_rng(seed, name);
  for (auto& word : s_) word = source();
  if ((s_[0] | s_[1] | s_[2] | s_[3]) == 0) s_[0] = 1;  // the all-zero state is a fixed point
}

std::uint64_t Rng::below(std::uint64_t n) noexcept {
  const std::uint64_t limit = UINT64_MAX - UINT64_MAX % n;
  std::uint64_t x = next();
  while (x >= limit) x = next();
  return x % n;
}

double Rng::normal() noexcept {
  const double u1 = uniform_open0();
  const double u2 = uniform();
  return std::sqrt(-2.0 * std::log(u1)) * std::cos(6.283185307179586 * u2);
}

}  // namespace brains::physics
