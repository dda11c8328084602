#include "brains/core/seed.h"

#include <ATen/core/Generator.h>
#include <ATen/CPUGeneratorImpl.h>
#include <ATen/Context.h>

#include <cstdlib>

namespace brains {

std::uint64_t seed_everything(std::optional<std::uint64_t> seed) {
  const std::uint64_t used =
      seed ? *seed : (static_cast<std::uint64_t>(std::random_device{}()) << 32) ^ std::random_device{}();
  {
    auto generator = at::detail::getDefaultCPUGenerator();
    std::lock_guard<std::mutex> lock(generator.mutex());
    generator.set_current_seed(used);
  }
  std::srand(static_cast<unsigned>(used));
  return used;
}

std::mt19937_64 make_rng(std::uint64_t seed, std::string_view stream) {
  // FNV-1a of the stream name, mixed with the seed through seed_seq.
  std::uint64_t hash = 1469598103934665603ULL;
  for (unsigned char c : stream) hash = (hash ^ c) * 1099511628211ULL;
  std::seed_seq sequence{static_cast<std::uint32_t>(seed), static_cast<std::uint32_t>(seed >> 32),
                         static_cast<std::uint32_t>(hash), static_cast<std::uint32_t>(hash >> 32)};
  return std::mt19937_64(sequence);
}

}  // namespace brains
