// brains predict: runs a processor over a matrix of electrode voltages.
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <filesystem>
#include <optional>

#include "brains/core/config.h"
#include "brains/core/error.h"
#include "brains/core/log.h"
#include "brains/io/npy.h"
#include "brains/io/npz.h"
#include "brains/processors/predict.h"
#include "brains/processors/processor.h"
#include "brains/processors/surrogate_file.h"
#include "commands.h"

namespace brains::cli {

namespace {

struct PredictOptions {
  std::string model;
  std::string input;
  std::string key = "inputs";
  std::string output;
  std::int64_t batch_size = 65536;
};

at::Tensor read_input_matrix(const PredictOptions& options) {
  const std::filesystem::path file(options.input);
  if (file.extension() == ".npy") return io::read_npy(file);
  const io::NpzFile npz = io::read_npz(file);
  if (!npz.contains(options.key))
    throw ArgumentError("cannot read " + options.input + ": no entry '" + options.key +
                        "' (entries: " + fmt::format("{}", fmt::join(npz.names(), ", ")) +
                        "; choose one with --key)");
  return npz.tensor(options.key);
}

Config default_processor_config() {
  return Config::parse("processor_type: simulation\nwaveform:\n  plateau_length: 1\n  slope_length: 0\n",
                       "<default processor config>");
}

void run_predict(const PredictOptions& options, const CommonOptions& common) {
  apply_common_flags(common);
  // Hardware types need no model; the simulation types say so when it is missing.
  std::optional<processors::SurrogateFile> surrogate;
  if (!options.model.empty()) surrogate = processors::SurrogateFile::load(options.model);
  const Config configs = common.config.empty() ? default_processor_config() : Config::load(common.config);
  processors::Processor processor(
      configs, surrogate ? std::optional<YAML::Node>(surrogate->info) : std::nullopt,
      surrogate ? std::optional<io::PyValue>(surrogate->model_state_dict) : std::nullopt);
  const at::Tensor inputs = read_input_matrix(options);
  if (inputs.dim() != 2)
    throw ArgumentError("cannot predict: " + options.input + " '" + options.key +
                        "' must be a matrix (samples × electrodes), got " +
                        std::to_string(inputs.dim()) + " dimension(s)");
  const at::Tensor outputs = processors::predict(*processor, inputs, options.batch_size);
  io::write_npz(options.output, std::vector<std::pair<std::string, at::Tensor>>{{"outputs", outputs}});
  log::info("wrote {} predictions of {} output(s) (nA) to {}", outputs.size(0), outputs.size(1),
            options.output);
}

}  // namespace

void register_predict(CLI::App& app, CommonOptions& common) {
  auto options = std::make_shared<PredictOptions>();
  auto* command = app.add_subcommand(
      "predict", "Run a processor over a matrix of electrode voltages (volts in, nA out)");
  command->add_option("--model", options->model,
                      "surrogate model (training_data.pt); not needed for hardware processor types")
      ->check(CLI::ExistingFile);
  command->add_option("--input", options->input, "voltages: .npz (see --key) or .npy, N × E")
      ->required()
      ->check(CLI::ExistingFile);
  command->add_option("--key", options->key, "npz entry holding the voltages")->capture_default_str();
  command->add_option("--output", options->output, "where to write the outputs (.npz, key 'outputs')")
      ->required();
  command->add_option("--batch-size", options->batch_size, "rows per forward pass")
      ->check(CLI::PositiveNumber)
      ->capture_default_str();
  add_common_flags(*command, common);
  command->callback([options, &common] { run_predict(*options, common); });
}

}  // namespace brains::cli
