// brains consistency: replays the charging signal and the reference batches of a sampling
// run on its device and compares with the stored outputs (and optionally a surrogate).
#include <cstdio>
#include <memory>
#include <optional>

#include "brains/core/config.h"
#include "brains/core/error.h"
#include "brains/io/sampler_configs.h"
#include "brains/processors/surrogate_file.h"
#include "brains/smg/consistency.h"
#include "brains/smg/sampler.h"
#include "commands.h"

namespace brains::cli {

namespace {

struct ConsistencyFlags {
  std::string model;
  std::optional<std::int64_t> repetitions;
  bool out_given = false;
};

processors::Processor load_model(const std::filesystem::path& file) {
  const auto surrogate = processors::SurrogateFile::load(file);
  const Config settings = Config::parse("processor_type: simulation\nwaveform: {plateau_length: 1, slope_length: 0}\n",
                                        "<consistency model>");
  return processors::Processor(settings, surrogate.info, surrogate.model_state_dict);
}

void run_consistency(const ConsistencyFlags& flags, const CommonOptions& common) {
  apply_common_flags(common);
  if (common.config.empty()) throw ArgumentError("brains consistency needs --config FILE (with data_dir)");
  Config configs = Config::load(common.config);
  if (!flags.model.empty()) configs.set("model", flags.model);
  if (flags.repetitions) configs.set("repetitions", *flags.repetitions);
  if (flags.out_given) configs.set("results_dir", common.out);
  const smg::ConsistencyOptions options = smg::ConsistencyOptions::from_config(configs);
  const Config sampling(io::read_sampler_configs(options.data_dir / options.sampler_configs_name));
  std::optional<processors::Processor> model;
  if (options.model) model = load_model(*options.model);
  const auto result = smg::check_consistency(options, smg::make_sampling_processor(sampling), model, configs);
  std::printf("%s\n", result.run_dir.string().c_str());
  for (std::int64_t j = 0; j < result.deviations.size(1); ++j) {
    std::printf("output %lld: RMSE %.4g nA, correlation %.4f", static_cast<long long>(j),
                result.deviations.select(1, j).mean().item<double>(),
                result.correlation.select(1, j).mean().item<double>());
    if (result.model_deviations.defined())
      std::printf("; model RMSE %.4g nA, correlation %.4f", result.model_deviations[j].item<double>(),
                  result.model_correlation[j].item<double>());
    std::printf("\n");
  }
}

}  // namespace

void register_consistency(CLI::App& app, CommonOptions& common) {
  auto flags = std::make_shared<ConsistencyFlags>();
  auto* command = app.add_subcommand(
      "consistency", "Check that a device still reproduces its reference batches (and a surrogate)");
  command->add_option("--model", flags->model, "surrogate (training_data.pt) to compare with; overrides model")
      ->check(CLI::ExistingFile);
  command->add_option("--repetitions", flags->repetitions, "repetitions of the reference batches")
      ->check(CLI::PositiveNumber);
  add_common_flags(*command, common);
  command->callback([flags, command, &common] {
    flags->out_given = command->count("--out") > 0;
    run_consistency(*flags, common);
  });
}

}  // namespace brains::cli
