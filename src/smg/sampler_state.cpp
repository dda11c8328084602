#include "brains/smg/sampler_state.h"

#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <iterator>
#include <nlohmann/json.hpp>

#include "brains/core/error.h"
#include "durable_file.h"

namespace brains::smg {

namespace fs = std::filesystem;

namespace {

constexpr const char* kFormat = "brains.sampler_state";
constexpr int kVersion = 1;

template <typename T>
T field(const nlohmann::json& json, const char* key, const fs::path& file) {
  if (!json.contains(key))
    throw FormatError(file.string(), std::string("key ") + key, "cannot read sampler state: missing");
  try {
    return json.at(key).get<T>();
  } catch (const nlohmann::json::exception&) {
    throw FormatError(file.string(), std::string("key ") + key,
                      "cannot read sampler state: wrong type (" + std::string(json.at(key).type_name()) + ")");
  }
}

// Integers stored as JSON numbers must be non-negative whole numbers.
std::int64_t count(const nlohmann::json& json, const char* key, const fs::path& file) {
  const auto& value = json.contains(key) ? json.at(key) : nlohmann::json();
  if (!value.is_number_integer() || value.get<std::int64_t>() < 0)
    throw FormatError(file.string(), std::string("key ") + key,
                      "cannot read sampler state: expected a non-negative integer");
  return value.get<std::int64_t>();
}

}  // namespace

void save_sampler_state(const fs::path& file, const SamplerState& state) {
  const nlohmann::json json = {{"format", kFormat},
                               {"version", kVersion},
                               {"seed", state.seed},
                               {"first_batch", state.first_batch},
                               {"end_batch", state.end_batch},
                               {"shard_index", state.shard_index},
                               {"shard_count", state.shard_count},
                               {"batches_done", state.batches_done},
                               {"io_dat_bytes", state.io_dat_bytes},
                               {"config_digest", state.config_digest},
                               {"finished", state.finished}};
  detail::replace_file_synced(file, json.dump(2) + "\n");
}

SamplerState load_sampler_state(const fs::path& file) {
  std::ifstream stream(file, std::ios::binary);
  if (!stream)
    throw FormatError(file.string(), "", "cannot read sampler state: file missing (not a sampling run directory?)");
  const std::string text((std::istreambuf_iterator<char>(stream)), std::istreambuf_iterator<char>());
  nlohmann::json json;
  try {
    json = nlohmann::json::parse(text);
  } catch (const nlohmann::json::parse_error& e) {
    throw FormatError(file.string(), "byte " + std::to_string(e.byte),
                      "cannot read sampler state: not valid JSON (corrupted?)");
  }
  if (!json.is_object() || !json.contains("format") || json["format"] != kFormat)
    throw FormatError(file.string(), "", "cannot read sampler state: not a brains sampler state file");
  if (field<int>(json, "version", file) != kVersion)
    throw FormatError(file.string(), "key version",
                      "cannot read sampler state: unsupported version " + json["version"].dump());
  SamplerState state;
  state.seed = field<std::uint64_t>(json, "seed", file);
  state.first_batch = count(json, "first_batch", file);
  state.end_batch = count(json, "end_batch", file);
  state.shard_index = count(json, "shard_index", file);
  state.shard_count = count(json, "shard_count", file);
  state.batches_done = count(json, "batches_done", file);
  state.io_dat_bytes = static_cast<std::uint64_t>(count(json, "io_dat_bytes", file));
  state.config_digest = field<std::string>(json, "config_digest", file);
  state.finished = field<bool>(json, "finished", file);
  if (state.end_batch <= state.first_batch)
    throw FormatError(file.string(), "key end_batch",
                      fmt::format("cannot read sampler state: empty batch range [{}, {})",
                                  state.first_batch, state.end_batch));
  if (state.batches_done > state.end_batch - state.first_batch)
    throw FormatError(file.string(), "key batches_done",
                      fmt::format("cannot read sampler state: {} batches done of {}", state.batches_done,
                                  state.end_batch - state.first_batch));
  if (state.shard_count < 1 || state.shard_index >= state.shard_count)
    throw FormatError(file.string(), "key shard_index",
                      fmt::format("cannot read sampler state: shard {}/{}", state.shard_index, state.shard_count));
  if (state.finished != (state.batches_done == state.end_batch - state.first_batch))
    throw FormatError(file.string(), "key finished",
                      "cannot read sampler state: 'finished' disagrees with batches_done");
  return state;
}

std::string file_digest(const fs::path& file) {
  std::ifstream stream(file, std::ios::binary);
  if (!stream) throw FormatError(file.string(), "", "cannot read file: " + std::string(std::strerror(errno)));
  std::uint64_t hash = 1469598103934665603ULL;
  char buffer[65536];
  while (stream) {
    stream.read(buffer, sizeof buffer);
    for (std::streamsize i = 0; i < stream.gcount(); ++i)
      hash = (hash ^ static_cast<unsigned char>(buffer[i])) * 1099511628211ULL;
  }
  return fmt::format("{:016x}", hash);
}

}  // namespace brains::smg
