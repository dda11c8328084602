// Registration of the `brains` subcommands. Every command lives in its own file
// (cmd_<name>.cpp) and only translates flags into library calls.
#pragma once

#include <CLI/CLI.hpp>

#include <cstdint>
#include <optional>
#include <string>

namespace brains::cli {

// Flags every subcommand accepts.
struct CommonOptions {
  std::string config;
  std::string out = "results";
  std::optional<std::uint64_t> seed;
  int threads = 0;  // 0: choose automatically
  bool quiet = false;
};

// Adds --config/--out/--seed/--threads/--quiet to a subcommand.
void add_common_flags(CLI::App& command, CommonOptions& options);
// Applies --quiet and --threads; call at the start of every command callback.
void apply_common_flags(const CommonOptions& options);

void register_info(CLI::App& app, CommonOptions& common);
void register_predict(CLI::App& app, CommonOptions& common);
void register_ring(CLI::App& app, CommonOptions& common);
void register_boolean(CLI::App& app, CommonOptions& common);  // boolean, vc-dimension, capacity
void register_iv(CLI::App& app, CommonOptions& common);
void register_kmc(CLI::App& app, CommonOptions& common);
void register_sample(CLI::App& app, CommonOptions& common);
void register_consistency(CLI::App& app, CommonOptions& common);
void register_postprocess(CLI::App& app, CommonOptions& common);
void register_train_surrogate(CLI::App& app, CommonOptions& common);

inline void register_commands(CLI::App& app, CommonOptions& common) {
  register_info(app, common);
  register_predict(app, common);
  register_ring(app, common);
  register_boolean(app, common);
  register_iv(app, common);
  register_kmc(app, common);
  register_sample(app, common);
  register_consistency(app, common);
  register_postprocess(app, common);
  register_train_surrogate(app, common);
}

}  // namespace brains::cli
