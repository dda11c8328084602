// The state file of a sampling run (`sampler_state.json` in the run directory): how far the
// run got, and the byte length of IO.dat after the last complete batch. It is replaced
// atomically after every batch, once IO.dat is fsync'ed, so after a crash it never claims more
// than the disk holds (at worst it is one batch behind, which resume measures again); a resumed
// run cuts IO.dat back to this length and continues with the next batch.
//
// Raises: FormatError (file, key) for a missing, unparsable or inconsistent state file;
//         Error when it cannot be written.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

namespace brains::smg {

struct SamplerState {
  std::uint64_t seed = 0;
  std::int64_t first_batch = 0;   // this run's batch indices are [first_batch, end_batch)
  std::int64_t end_batch = 0;
  std::int64_t shard_index = 0;   // shard i of n ("--shard i/n"); 0 of 1 for a whole gathering
  std::int64_t shard_count = 1;
  std::int64_t batches_done = 0;  // complete batches, counted from first_batch
  std::uint64_t io_dat_bytes = 0;
  std::string config_digest;      // of sampler_configs.json, which must not change
  bool finished = false;

  std::int64_t next_batch() const { return first_batch + batches_done; }
};

inline constexpr const char* kSamplerStateFile = "sampler_state.json";

// Writes a temporary file, fsyncs it and renames it over `file`. The directory is not synced:
// a rename lost in a power cut leaves the previous state, one batch behind, which is safe.
void save_sampler_state(const std::filesystem::path& file, const SamplerState& state);
SamplerState load_sampler_state(const std::filesystem::path& file);

// FNV-1a (64 bit) of a file's bytes as 16 hex digits. FormatError when it cannot be read.
std::string file_digest(const std::filesystem::path& file);

}  // namespace brains::smg
