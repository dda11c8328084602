#include "brains/smg/sampler.h"

#include <ATen/ATen.h>
#include <fcntl.h>
#include <sys/file.h>
#include <fmt/format.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstring>
#include <exception>
#include <stdexcept>

#include "brains/core/error.h"
#include "brains/core/interrupt.h"
#include "brains/core/log.h"
#include "brains/core/progress.h"
#include "brains/core/run_directory.h"
#include "brains/core/seed.h"
#include "brains/io/io_dat.h"
#include "brains/io/plot.h"
#include "brains/io/sampler_configs.h"
#include "brains/processors/surrogate_file.h"
#include "brains/smg/sampler_state.h"
#include "durable_file.h"

namespace brains::smg {

namespace fs = std::filesystem;
using detail::sync_path;
using detail::write_file;
using detail::WriteMode;

namespace {

constexpr const char* kConfigFile = "sampler_configs.json";
constexpr const char* kIoDatFile = "IO.dat";
constexpr const char* kPhasesFile = "batch_phases.dat";
constexpr const char* kPlotFile = "example_batch.png";
constexpr const char* kLockFile = "sampler.lock";

[[noreturn]] void fail_io(const char* verb, const fs::path& file, int error) {
  throw Error(std::string("cannot ") + verb + " " + file.string() + ": " + std::strerror(error));
}

std::uint64_t size_of(const fs::path& file) {
  std::error_code error;
  const auto size = fs::file_size(file, error);
  if (error) throw FormatError(file.string(), "", "cannot read file: " + error.message());
  return size;
}

// Cuts a data file back to the length the state file recorded after the last complete batch.
void truncate_to(const fs::path& file, std::uint64_t bytes, const fs::path& state_file) {
  const std::uint64_t size = size_of(file);
  if (size < bytes)
    throw FormatError(file.string(), "",
                      fmt::format("cannot resume: the file holds {} bytes but {} records {} after the "
                                  "last complete batch (data lost or replaced)",
                                  size, state_file.filename().string(), bytes));
  if (size == bytes) return;
  log::info("{}: dropping {} bytes of an unfinished batch", file.filename().string(), size - bytes);
  if (::truncate(file.c_str(), static_cast<off_t>(bytes)) != 0) fail_io("truncate", file, errno);
}

std::string phases_header(std::int64_t electrodes) {
  std::string header = "# batch";
  for (std::int64_t i = 0; i < electrodes; ++i) header += fmt::format(", Phase {} (rad)", i);
  return header + "\n";
}

std::string phases_line(std::int64_t batch, const at::Tensor& phase) {
  std::string line = std::to_string(batch);
  const at::Tensor p = phase.to(at::kDouble).contiguous();
  for (std::int64_t i = 0; i < p.numel(); ++i) line += fmt::format(" {:.18e}", p.data_ptr<double>()[i]);
  return line + "\n";
}

// batch_phases.dat up to (not including) batch `end`. The phases follow from the seed, so the
// file is rebuilt on resume instead of being synced after every batch.
std::string phases_text(const SamplingOptions& options, std::int64_t first, std::int64_t end) {
  std::string text = phases_header(options.activation_electrode_no);
  for (std::int64_t k = first; k < end; ++k) text += phases_line(k, options.batch_phase(k));
  return text;
}

std::vector<double> column(const at::Tensor& matrix, std::int64_t j) {
  const at::Tensor c = matrix.select(1, j).to(at::kDouble).contiguous();
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

void plot_batch(const fs::path& png, std::int64_t batch, const at::Tensor& times,
                const at::Tensor& inputs, const at::Tensor& outputs) {
  const std::vector<double> t(times.data_ptr<double>(), times.data_ptr<double>() + times.numel());
  io::PlotSpec in("Inputs");
  in.xlabel = "time (s)";
  in.ylabel = "voltage (V)";
  for (std::int64_t j = 0; j < inputs.size(1); ++j) in.add({"Input " + std::to_string(j), t, column(inputs, j), std::nullopt});
  io::PlotSpec out("Outputs");
  out.xlabel = "time (s)";
  out.ylabel = "current (nA)";
  for (std::int64_t j = 0; j < outputs.size(1); ++j)
    out.add({"Output " + std::to_string(j), t, column(outputs, j), std::nullopt});
  io::plot_grid(png, 2, 1, {in, out}, fmt::format("I/O data for batch {}", batch));
}

// An exclusive advisory lock on the run directory while a sampler writes into it, so a second
// `brains sample --resume` on the same run cannot interleave batches. The kernel releases it
// when the process ends, however it ends.
class RunLock {
 public:
  explicit RunLock(const fs::path& run_dir) {
    const fs::path file = run_dir / kLockFile;
    fd_ = ::open(file.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0644);
    if (fd_ < 0) fail_io("create", file, errno);
    if (::flock(fd_, LOCK_EX | LOCK_NB) != 0) {
      const int error = errno;
      ::close(fd_);
      if (error == EWOULDBLOCK)
        throw ArgumentError("cannot sample into " + run_dir.string() +
                            ": another brains sample is writing it (" + kLockFile + " is locked)");
      fail_io("lock", file, error);
    }
  }
  ~RunLock() { ::close(fd_); }
  RunLock(const RunLock&) = delete;
  RunLock& operator=(const RunLock&) = delete;

 private:
  int fd_ = -1;
};

// Closes the driver however the batch loop ends; close() errors are reported, not thrown
// over another exception.
class CloseOnExit {
 public:
  explicit CloseOnExit(processors::Processor processor) : processor_(std::move(processor)) {}
  ~CloseOnExit() {
    try {
      processor_->close();
    } catch (const std::exception& e) {
      log::error("cannot close the driver: {}", e.what());
    }
  }
  CloseOnExit(const CloseOnExit&) = delete;
  CloseOnExit& operator=(const CloseOnExit&) = delete;

 private:
  processors::Processor processor_;
};

SampleResult run_batches(const fs::path& run_dir, const SamplingOptions& options, SamplerState& state,
                         processors::Processor processor, const SampleRequest& request) {
  const fs::path io_dat = run_dir / kIoDatFile, phases = run_dir / kPhasesFile;
  const fs::path state_file = run_dir / kSamplerStateFile;
  const std::int64_t plot_interval = request.plot_interval.value_or(options.plot_interval);
  SampleResult result;
  result.run_dir = run_dir;
  result.first_batch = state.first_batch;
  result.end_batch = state.end_batch;
  CloseOnExit close_driver(processor);
  seed_everything(state.seed);  // the surrogate's noise, if any

  const std::int64_t remaining = state.end_batch - state.next_batch();
  log::info("sampling batches {}..{} of {} ({} to go): {} samples each, ramps of {}, fs {} Hz, into {}",
            state.next_batch(), state.end_batch - 1, options.number_batches, remaining,
            options.batch_points, options.ramp_points, options.sampling_frequency_hz, run_dir.string());
  ProgressBar bar("sampling", remaining, request.progress && progress_enabled());
  const std::int64_t log_every = std::max<std::int64_t>(1, remaining / 20);  // a log line per 5 %
  const auto start = std::chrono::steady_clock::now();
  const auto elapsed = [&start] {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  };
  bool interrupted = false;
  while (state.next_batch() < state.end_batch) {
    if (interrupt_requested()) {
      interrupted = true;
      break;
    }
    const std::int64_t k = state.next_batch();
    const at::Tensor inputs = options.batch_inputs(k);
    const at::Tensor outputs = measure_batch(*processor, inputs, options.ramp_points);
    // Data first, then the state that vouches for it: a crash in between only costs a
    // batch, which resume measures again.
    io::append_io_dat_rows(io_dat, inputs, outputs);
    write_file(phases, phases_line(k, options.batch_phase(k)), WriteMode::append, false);
    ++state.batches_done;
    state.io_dat_bytes = size_of(io_dat);
    state.finished = state.next_batch() == state.end_batch;
    save_sampler_state(state_file, state);
    ++result.batches_measured;
    result.samples_measured += options.batch_points;
    bar.set_status(fmt::format("batch {}/{}", k + 1, options.number_batches));
    bar.advance();
    if (plot_interval > 0 && k % plot_interval == 0)
      plot_batch(run_dir / kPlotFile, k, options.batch_times(k), inputs, outputs);
    if (result.batches_measured % log_every == 0 && !state.finished)
      log::info("batch {}/{}: {:.3f} s per batch, eta {}", k + 1, options.number_batches,
                elapsed() / result.batches_measured, format_duration(bar.eta_seconds()));
    if (request.after_batch) request.after_batch(k);
  }
  result.seconds = elapsed();
  bar.finish();
  sync_path(phases, false);
  if (interrupted) {
    processor->close();  // every waveform ended at 0 V; release the instruments now
    throw InterruptedError(fmt::format(
        "sampling interrupted: {} of {} batches are on disk; continue with: brains sample --resume {}",
        state.batches_done, state.end_batch - state.first_batch, run_dir.string()));
  }
  log::info("sampled {} batches ({} samples) in {:.1f} s: {:.0f} samples/s", result.batches_measured,
            result.samples_measured, result.seconds, result.samples_per_second());
  return result;
}

std::string processor_type_of(const Config& configs) {
  if (configs.has("processor_type")) return configs.get<std::string>("processor_type");
  if (configs.has("driver") && configs.at("driver").has("instrument_type"))
    return configs.at("driver").get<std::string>("instrument_type");
  throw ConfigError(configs.key_path("processor_type"),
                    "missing: name the device with processor_type or driver.instrument_type");
}

}  // namespace

Shard Shard::parse(const std::string& text) {
  Shard shard;
  const std::size_t slash = text.find('/');
  try {
    std::size_t used = 0;
    if (slash == std::string::npos) throw std::invalid_argument("no slash");
    shard.index = std::stoll(text.substr(0, slash), &used);
    if (used != slash) throw std::invalid_argument("index");
    const std::string count = text.substr(slash + 1);
    shard.count = std::stoll(count, &used);
    if (used != count.size()) throw std::invalid_argument("count");
  } catch (const std::exception&) {
    throw ArgumentError("cannot parse shard '" + text + "': expected i/n, e.g. 0/4");
  }
  if (shard.count < 1 || shard.index < 0 || shard.index >= shard.count)
    throw ArgumentError("cannot use shard '" + text + "': need 0 <= i < n");
  return shard;
}

std::int64_t Shard::first_batch(std::int64_t number_batches) const {
  return index * number_batches / count;
}

std::int64_t Shard::end_batch(std::int64_t number_batches) const {
  return (index + 1) * number_batches / count;
}

processors::Processor make_sampling_processor(const Config& configs) {
  const std::string type = processor_type_of(configs);
  const std::string type_key = configs.has("processor_type") ? configs.key_path("processor_type")
                                                             : configs.key_path("driver.instrument_type");
  if (type == "simulation")
    throw ConfigError(type_key, "the sampler measures through the hardware path: use simulation_debug "
                                "(a surrogate behind it) or a device type");
  YAML::Node settings(YAML::NodeType::Map);
  settings["processor_type"] = type;
  if (type == "simulation_debug") {
    if (!configs.has("model_dir"))
      throw ConfigError(configs.key_path("model_dir"), "missing: simulation_debug needs a surrogate file (training_data.pt)");
    const auto surrogate = processors::SurrogateFile::load(configs.get<std::string>("model_dir"));
    if (configs.has("electrode_effects")) settings["electrode_effects"] = YAML::Clone(configs.at("electrode_effects").node());
    return processors::Processor(Config(settings, configs.key_path()), surrogate.info, surrogate.model_state_dict);
  }
  YAML::Node driver = YAML::Clone(configs.at("driver").node());
  driver["instrument_type"] = type;
  settings["driver"] = driver;
  return processors::Processor(Config(settings, configs.key_path()));
}

at::Tensor measure_batch(processors::ProcessorImpl& processor, const at::Tensor& batch,
                         std::int64_t ramp_points) {
  const at::Tensor waveform = ramped_waveform(batch, ramp_points);
  const at::Tensor currents = processor.forward_waveform(waveform);
  return currents.narrow(0, ramp_points, batch.size(0)).to(at::kDouble).contiguous();
}

SampleResult sample(const Config& configs, processors::Processor processor, const SampleRequest& request) {
  SamplingOptions options = SamplingOptions::from_config(configs, *processor, request.seed);
  if (request.plot_interval) options.plot_interval = *request.plot_interval;
  const std::int64_t first = request.shard.first_batch(options.number_batches);
  const std::int64_t end = request.shard.end_batch(options.number_batches);
  if (end <= first)
    throw ArgumentError(fmt::format("shard {}/{} of {} batches holds no batch", request.shard.index,
                                    request.shard.count, options.number_batches));

  const fs::path run_dir = create_run_directory(request.out.value_or(options.save_directory), options.data_name);
  const RunLock lock(run_dir);
  const log::FileSink log_file(run_dir / "run.log");
  YAML::Node resolved = options.resolved_config(configs);
  resolved["save_directory"] = run_dir.string();
  if (resolved["model_dir"]) resolved["model_dir"] = fs::absolute(resolved["model_dir"].as<std::string>()).string();
  // brainspy-smg's post-processing divides by driver.amplification; a surrogate has its own.
  if (options.processor_type == "simulation_debug" && !resolved["driver"]["amplification"])
    resolved["driver"]["amplification"] = processor->electrode_info().amplification;
  const fs::path config_file = run_dir / kConfigFile;
  io::save_sampler_configs(config_file, resolved);
  io::write_io_dat_header(run_dir / kIoDatFile, options.activation_electrode_no, options.readout_electrode_no);
  write_file(run_dir / kPhasesFile, phases_header(options.activation_electrode_no), WriteMode::create, false);

  SamplerState state;
  state.seed = options.seed;
  state.first_batch = first;
  state.end_batch = end;
  state.shard_index = request.shard.index;
  state.shard_count = request.shard.count;
  state.io_dat_bytes = size_of(run_dir / kIoDatFile);
  state.config_digest = file_digest(config_file);
  save_sampler_state(run_dir / kSamplerStateFile, state);
  sync_path(run_dir, true);  // the new directory entries themselves
  log::info("seed {}; {} batches of {} s ({} samples), {} waves on {} electrodes", options.seed,
            options.number_batches, options.batch_time_s, options.batch_points, wave_shape_name(options.shape),
            options.activation_electrode_no);
  return run_batches(run_dir, options, state, std::move(processor), request);
}

Config load_sampling_run_config(const fs::path& run_dir) {
  const fs::path file = run_dir / kConfigFile;
  if (!fs::exists(file))
    throw FormatError(file.string(), "", "cannot read sampling config: file missing (not a sampling run directory?)");
  return Config(io::read_sampler_configs(file));
}

SampleResult resume_sampling(const fs::path& run_dir, processors::Processor processor,
                             const SampleRequest& request) {
  const fs::path state_file = run_dir / kSamplerStateFile;
  if (!fs::exists(state_file)) load_sampler_state(state_file);  // the FormatError for a missing file
  const RunLock lock(run_dir);
  SamplerState state = load_sampler_state(state_file);
  const fs::path config_file = run_dir / kConfigFile;
  if (file_digest(config_file) != state.config_digest)
    throw FormatError(config_file.string(), "",
                      "cannot resume: the file changed since the run started (its data would no longer "
                      "match); restore it or start a new run");
  const Config configs = load_sampling_run_config(run_dir);
  SamplingOptions options = SamplingOptions::from_config(configs, *processor);
  if (options.seed != state.seed)
    throw FormatError(state_file.string(), "key seed",
                      fmt::format("cannot resume: seed {} differs from the config's {}", state.seed, options.seed));
  if (state.end_batch > options.number_batches)
    throw FormatError(state_file.string(), "key end_batch",
                      fmt::format("cannot resume: batch range ends at {} but the gathering has {} batches",
                                  state.end_batch, options.number_batches));
  if (request.seed && *request.seed != state.seed)
    throw ArgumentError(fmt::format("cannot resume with seed {}: the run uses seed {}", *request.seed, state.seed));
  if ((request.shard.index != 0 || request.shard.count != 1) &&
      (request.shard.index != state.shard_index || request.shard.count != state.shard_count))
    throw ArgumentError(fmt::format("cannot resume as shard {}/{}: the run is shard {}/{}", request.shard.index,
                                    request.shard.count, state.shard_index, state.shard_count));
  const log::FileSink log_file(run_dir / "run.log");
  if (state.finished) {
    log::info("{}: all {} batches are already sampled; nothing to resume", run_dir.string(),
              state.end_batch - state.first_batch);
    processor->close();
    SampleResult result;
    result.run_dir = run_dir;
    result.first_batch = state.first_batch;
    result.end_batch = state.end_batch;
    return result;
  }
  truncate_to(run_dir / kIoDatFile, state.io_dat_bytes, state_file);
  write_file(run_dir / kPhasesFile, phases_text(options, state.first_batch, state.next_batch()),
             WriteMode::replace, true);
  log::info("resuming {} after {} complete batches", run_dir.string(), state.batches_done);
  return run_batches(run_dir, options, state, std::move(processor), request);
}

}  // namespace brains::smg
