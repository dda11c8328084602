// brains boolean | vc-dimension | capacity: the boolean-gate benchmark tasks.
#include <fmt/format.h>

#include <iostream>

#include "brains/core/log.h"
#include "brains/core/run_directory.h"
#include "brains/core/seed.h"
#include "brains/tasks/boolean.h"
#include "brains/tasks/boolean_data.h"
#include "commands.h"
#include "task_setup.h"

namespace brains::cli {

namespace {

struct BooleanFlags {
  TaskFlags task;
  std::string gate = "XOR";
  double threshold = 1.0;
  std::optional<std::int64_t> dimension;
  std::optional<std::int64_t> from_dimension;
  std::optional<std::int64_t> to_dimension;
};

void add_task_flags(CLI::App& command, BooleanFlags& flags) {
  command.add_option("--model", flags.task.model, "surrogate model (training_data.pt)")->check(CLI::ExistingFile);
  command.add_option("--algorithm", flags.task.algorithm, "ga (genetic) or gd (gradient descent)")
      ->check(CLI::IsMember({"ga", "gd", "genetic", "gradient"}));
}

// Config, seed, processor and task, with the flags applied over the config.
struct Prepared {
  Config configs;
  std::uint64_t seed;
  tasks::BooleanTask task;
};

Prepared prepare(const BooleanFlags& flags, const CommonOptions& common) {
  apply_common_flags(common);
  Config configs = load_task_config(common.config, flags.task);
  // --seed, else the config's seed, else a fresh one (recorded in the run's config).
  std::optional<std::uint64_t> wanted = common.seed;
  if (!wanted && configs.has("seed")) wanted = configs.get<std::uint64_t>("seed");
  const std::uint64_t seed = seed_everything(wanted);
  configs.set("seed", seed);
  if (flags.from_dimension) configs.set("from_dimension", *flags.from_dimension);
  if (flags.to_dimension) configs.set("to_dimension", *flags.to_dimension);
  auto options = tasks::BooleanTaskOptions::from_config(configs);
  TaskFlags task = flags.task;
  task.threads = common.threads;
  return {configs, seed, tasks::BooleanTask(options, build_task_processor(configs, task))};
}

void print_gate(const tasks::GateResult& gate) {
  std::cout << fmt::format("{:>8}  {:<9}  accuracy {:6.2f}%  correlation {:+.3f}  attempts {}\n", gate.gate,
                           gate.found ? "found" : "not found", gate.accuracy_percent, gate.correlation,
                           gate.attempts);
}

void run_boolean(const BooleanFlags& flags, const CommonOptions& common) {
  Prepared prepared = prepare(flags, common);
  const at::Tensor labels = tasks::parse_gate(flags.gate);
  const auto run_dir = create_run_directory(common.out, "boolean_" + tasks::gate_label_string(labels));
  log::FileSink sink(run_dir / "run.log");
  const auto result = prepared.task.find_gate(labels, flags.threshold);
  tasks::write_gate_result(run_dir, result, prepared.configs);
  print_gate(result);
  std::cout << "results: " << run_dir.string() << "\n";
}

void run_vc_dimension(const BooleanFlags& flags, const CommonOptions& common) {
  Prepared prepared = prepare(flags, common);
  const std::int64_t n = flags.dimension.value_or(prepared.task.options().from_dimension);
  const auto run_dir = create_run_directory(common.out, "vc_dimension_" + std::to_string(n));
  log::FileSink sink(run_dir / "run.log");
  const auto result = prepared.task.vc_dimension(n);
  tasks::write_vc_dimension_result(run_dir, result, prepared.configs);
  for (const auto& gate : result.gates) print_gate(gate);
  std::cout << fmt::format("VC dimension {}: capacity {:.3f} (threshold {:.4f}) in {:.1f} s\nresults: {}\n", n,
                           result.capacity, result.threshold, result.seconds, run_dir.string());
}

void run_capacity(const BooleanFlags& flags, const CommonOptions& common) {
  Prepared prepared = prepare(flags, common);
  const auto run_dir = create_run_directory(common.out, "capacity");
  log::FileSink sink(run_dir / "run.log");
  const auto results = prepared.task.capacity();
  tasks::write_capacity_result(run_dir, results, prepared.configs);
  for (const auto& result : results)
    std::cout << fmt::format("N = {:2}  capacity {:.3f}  ({:.1f} s)\n", result.dimension, result.capacity,
                             result.seconds);
  std::cout << "results: " << run_dir.string() << "\n";
}

}  // namespace

void register_boolean(CLI::App& app, CommonOptions& common) {
  auto flags = std::make_shared<BooleanFlags>();

  auto* boolean = app.add_subcommand("boolean", "Find one boolean gate (AND, OR, NAND, NOR, XOR, XNOR or labels such as 0110)");
  add_task_flags(*boolean, *flags);
  boolean->add_option("--gate", flags->gate, "gate name or label string")->capture_default_str();
  boolean->add_option("--threshold", flags->threshold, "accuracy (fraction) that counts as found")
      ->check(CLI::Range(0.0, 1.0))
      ->capture_default_str();
  add_common_flags(*boolean, common);
  boolean->callback([flags, &common] { run_boolean(*flags, common); });

  auto* vc = app.add_subcommand("vc-dimension", "Try every dichotomy of N points (capacity at N)");
  add_task_flags(*vc, *flags);
  vc->add_option("--dimension,-n", flags->dimension, "N, the number of points (default: from_dimension)")
      ->check(CLI::Range(2, 10));
  add_common_flags(*vc, common);
  vc->callback([flags, &common] { run_vc_dimension(*flags, common); });

  auto* capacity = app.add_subcommand("capacity", "VC dimension for N = from_dimension … to_dimension");
  add_task_flags(*capacity, *flags);
  capacity->add_option("--from", flags->from_dimension, "first N")->check(CLI::Range(2, 10));
  capacity->add_option("--to", flags->to_dimension, "last N")->check(CLI::Range(2, 10));
  add_common_flags(*capacity, common);
  capacity->callback([flags, &common] { run_capacity(*flags, common); });
}

}  // namespace brains::cli
