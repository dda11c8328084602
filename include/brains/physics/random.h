// Rng: the random-number generator of the physics layer — xoshiro256++ (Blackman & Vigna),
// small and fast enough to draw per hop. Each user owns its generator; a generator is keyed
// by (seed, stream name, index), so results never depend on call order or thread count
// (HOOMD's RNGIdentifiers). The conversions to uniform and normal numbers are our own, so a
// seed gives the same numbers with any standard library.
#pragma once

#include <cmath>
#include <cstdint>
#include <string_view>

namespace brains::physics {

class Rng {
 public:
  // The generator for `stream` (e.g. "physics.kmc") and task `index` derived from `seed`.
  Rng(std::uint64_t seed, std::string_view stream, std::uint64_t index = 0);

  std::uint64_t next() noexcept {
    const std::uint64_t result = rotl(s_[0] + s_[3], 23) + s_[0];
    const std::uint64_t t = s_[1] << 17;
    s_[2] ^= s_[0];
    s_[3] ^= s_[1];
    s_[1] ^= s_[2];
    s_[0] ^= s_[3];
    s_[2] ^= t;
    s_[3] = rotl(s_[3], 45);
    return result;
  }
  // Uniform in [0, 1) with 53 random bits.
  double uniform() noexcept { return static_cast<double>(next() >> 11) * 0x1.0p-53; }
  // Uniform in (0, 1]: safe under log().
  double uniform_open0() noexcept { return static_cast<double>((next() >> 11) + 1) * 0x1.0p-53; }
  // Uniform integer in [0, n) (n > 0), by rejection (no modulo bias).
  std::uint64_t below(std::uint64_t n) noexcept;
  // Standard normal (Box–Muller; one draw per call, the pair's second value is discarded so
  // the stream position does not depend on history).
  double normal() noexcept;

 private:
  static std::uint64_t rotl(std::uint64_t x, int k) noexcept { return (x << k) | (x >> (64 - k)); }
  std::uint64_t s_[4];
};

}  // namespace brains::physics
