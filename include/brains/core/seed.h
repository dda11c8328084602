// One seeding helper: seeds torch's generator and the C library's rand(), and returns the
// seed it used so a run can record it. Components that need their own random streams make
// them with make_rng(seed, stream): independent of call order and thread count.
#pragma once

#include <cstdint>
#include <optional>
#include <random>
#include <string_view>

namespace brains {

// With no seed, draws one from std::random_device.
std::uint64_t seed_everything(std::optional<std::uint64_t> seed = std::nullopt);

// A generator for one purpose ("ga", "noise", …) derived from a run seed.
std::mt19937_64 make_rng(std::uint64_t seed, std::string_view stream);

}  // namespace brains
