// brains postprocess: IO.dat gatherings -> postprocessed_data.npz (brainspy-smg layout).
#include <fmt/format.h>

#include <iostream>
#include <memory>

#include "brains/core/config.h"
#include "brains/core/error.h"
#include "brains/smg/postprocess.h"
#include "commands.h"

namespace brains::cli {

namespace {

struct PostprocessFlags {
  std::vector<std::string> data_dirs;
  std::string clipping;  // default | none | LOW,HIGH
  std::string output_dir;
  bool exclude_reference = false;
};

smg::ClippingValue parse_clipping(const std::string& text) {
  if (text == "default") return {};
  if (text == "none" || text == "None" || text == "null") return smg::ClippingValue::none();
  const auto comma = text.find(',');
  try {
    if (comma != std::string::npos) {
      std::size_t used_low = 0, used_high = 0;
      const std::string low_text = text.substr(0, comma), high_text = text.substr(comma + 1);
      const double low = std::stod(low_text, &used_low);
      const double high = std::stod(high_text, &used_high);
      if (used_low == low_text.size() && used_high == high_text.size() && low < high)
        return smg::ClippingValue::window(low, high);
    }
  } catch (const std::exception&) {
  }
  throw ArgumentError("--clipping: expected default, none or LOW,HIGH (nA, LOW < HIGH), got '" + text + "'");
}

void run_postprocess(const PostprocessFlags& flags, const CommonOptions& common) {
  apply_common_flags(common);
  const Config configs = common.config.empty() ? Config() : Config::load(common.config);
  configs.warn_unknown_keys({"data_dir", "data_dirs", "output_dir", "clipping_value", "charging_signal_batch_no",
                             "reference_signal_batch_no", "exclude_reference_batches", "filename", "plot"});
  smg::PostprocessOptions options = smg::PostprocessOptions::from_config(configs);
  if (!flags.clipping.empty()) options.clipping_value = parse_clipping(flags.clipping);
  if (flags.exclude_reference) options.exclude_reference_batches = true;

  std::vector<std::filesystem::path> dirs(flags.data_dirs.begin(), flags.data_dirs.end());
  if (dirs.empty()) {
    if (configs.has("data_dirs"))
      for (const auto& dir : configs.get<std::vector<std::string>>("data_dirs")) dirs.emplace_back(dir);
    else if (configs.has("data_dir"))
      dirs.emplace_back(configs.get<std::string>("data_dir"));
  }
  if (dirs.empty())
    throw ArgumentError("cannot post-process: give the gathering folder(s) as arguments or data_dir(s) in --config");
  const std::filesystem::path output_dir =
      !flags.output_dir.empty() ? std::filesystem::path(flags.output_dir)
                                : std::filesystem::path(configs.get<std::string>("output_dir", ""));

  const smg::PostprocessResult result = smg::postprocess(dirs, options, output_dir);
  std::cout << fmt::format("{} of {} samples kept ({:.3g}% cropped), {} inputs, {} output(s)\nwrote {}\n",
                           result.kept_samples, result.candidate_samples, result.cropped_percent,
                           result.inputs.size(1), result.outputs.size(1), result.file.string());
}

}  // namespace

void register_postprocess(CLI::App& app, CommonOptions& common) {
  auto flags = std::make_shared<PostprocessFlags>();
  auto* command = app.add_subcommand(
      "postprocess", "Turn sampled gatherings (IO.dat + sampler_configs.json) into postprocessed_data.npz");
  command->add_option("data_dirs", flags->data_dirs, "gathering folder(s); several are merged")
      ->check(CLI::ExistingDirectory);
  command->add_option("--clipping", flags->clipping,
                      "default (±4·amplification), none, or LOW,HIGH in nA (clipping_value)");
  command->add_option("--output-dir", flags->output_dir,
                      "where the npz goes (default: the gathering folder; required to merge)");
  command->add_flag("--exclude-reference", flags->exclude_reference,
                    "keep the reference batches out of the training data (exclude_reference_batches)");
  add_common_flags(*command, common);
  command->callback([flags, &common] { run_postprocess(*flags, common); });
}

}  // namespace brains::cli
