// brains sample: measures a device batch by batch into a run directory brainspy-smg reads
// (IO.dat, sampler_configs.json), resumable after an interruption.
#include <cstdio>
#include <memory>
#include <optional>

#include "brains/core/config.h"
#include "brains/core/error.h"
#include "brains/core/log.h"
#include "brains/smg/sampler.h"
#include "commands.h"

namespace brains::cli {

namespace {

struct SampleFlags {
  std::string resume;
  std::string shard;
  std::optional<std::int64_t> plot_interval;
  bool out_given = false;
};

void run_sample(const SampleFlags& flags, const CommonOptions& common) {
  apply_common_flags(common);
  smg::SampleRequest request;
  request.seed = common.seed;
  request.plot_interval = flags.plot_interval;
  if (!flags.shard.empty()) request.shard = smg::Shard::parse(flags.shard);
  smg::SampleResult result;
  if (!flags.resume.empty()) {
    if (!common.config.empty())
      log::info("--resume: using the run's own sampler_configs.json, not {}", common.config);
    const Config configs = smg::load_sampling_run_config(flags.resume);
    result = smg::resume_sampling(flags.resume, smg::make_sampling_processor(configs), request);
  } else {
    if (common.config.empty()) throw ArgumentError("brains sample needs --config FILE (or --resume DIR)");
    const Config configs = Config::load(common.config);
    if (flags.out_given) request.out = common.out;
    result = smg::sample(configs, smg::make_sampling_processor(configs), request);
  }
  std::printf("%s\n", result.run_dir.string().c_str());
  std::printf("batches %lld..%lld, measured now: %lld batches, %lld samples in %.1f s (%.0f samples/s)\n",
              static_cast<long long>(result.first_batch), static_cast<long long>(result.end_batch - 1),
              static_cast<long long>(result.batches_measured), static_cast<long long>(result.samples_measured),
              result.seconds, result.samples_per_second());
}

}  // namespace

void register_sample(CLI::App& app, CommonOptions& common) {
  auto flags = std::make_shared<SampleFlags>();
  auto* command = app.add_subcommand(
      "sample", "Sample a device for a surrogate model: sine/triangle inputs, IO.dat, resumable");
  command->add_option("--resume", flags->resume, "continue the interrupted run in this run directory")
      ->check(CLI::ExistingDirectory);
  command->add_option("--shard", flags->shard, "measure only shard i of n (i/n): a contiguous block of batches");
  command->add_option("--plot-interval", flags->plot_interval, "example_batch.png every K batches (0: never)")
      ->check(CLI::NonNegativeNumber);
  add_common_flags(*command, common);
  command->callback([flags, command, &common] {
    flags->out_given = command->count("--out") > 0;
    run_sample(*flags, common);
  });
}

}  // namespace brains::cli
