// Ring capacity: a searcher per gap, and the summary across gaps upstream never made (§6.21).
#include <ATen/ATen.h>
#include <fmt/format.h>

#include <cerrno>
#include <cstring>
#include <fstream>
#include <nlohmann/json.hpp>

#include "brains/algorithms/run_outputs.h"
#include "brains/core/error.h"
#include "brains/core/log.h"
#include "brains/core/run_directory.h"
#include "brains/tasks/ring.h"
#include "ring_outputs.h"

namespace brains::tasks {

namespace {

nlohmann::json number(double value) {
  return std::isfinite(value) ? nlohmann::json(value) : nlohmann::json(nullptr);
}

RingCapacityRow summarise(const RingSearchResult& search) {
  RingCapacityRow row;
  row.gap = search.gap;
  const RingRunResult& best = search.runs.at(search.best);
  row.best_train_accuracy = best.train.accuracy_percent;
  row.best_test_accuracy = best.test.accuracy_percent;
  row.best_test_fisher = best.test.fisher;
  std::vector<double> test;
  for (const auto& run : search.runs) test.push_back(run.test.accuracy_percent);
  const at::Tensor t = at::tensor(at::ArrayRef<double>(test), at::kDouble);
  row.mean_test_accuracy = t.mean().item<double>();
  row.std_test_accuracy = test.size() > 1 ? t.std().item<double>() : 0.0;
  row.searcher_dir = search.run_dir;
  return row;
}

void write_text(const std::filesystem::path& file, const std::string& text) {
  std::ofstream stream(file, std::ios::binary | std::ios::trunc);
  stream << text;
  stream.flush();
  if (!stream) throw Error("cannot write " + file.string() + ": " + std::strerror(errno));
}

void write_capacity(const RingCapacityResult& capacity, const RingOptions& options) {
  std::vector<double> gaps, best, mean, spread, train;
  std::string csv = "gap,best_test_accuracy_percent,mean_test_accuracy_percent,"
                    "std_test_accuracy_percent,best_train_accuracy_percent,best_test_fisher,searcher_dir\n";
  nlohmann::json table = nlohmann::json::array();
  for (const auto& row : capacity.rows) {
    gaps.push_back(row.gap);
    best.push_back(row.best_test_accuracy);
    mean.push_back(row.mean_test_accuracy);
    spread.push_back(row.std_test_accuracy);
    train.push_back(row.best_train_accuracy);
    const std::string dir = row.searcher_dir.filename().string();
    csv += fmt::format("{:g},{},{},{},{},{},{}\n", row.gap, row.best_test_accuracy,
                       row.mean_test_accuracy, row.std_test_accuracy, row.best_train_accuracy,
                       row.best_test_fisher, dir);
    table.push_back({{"gap", row.gap},
                     {"best_test_accuracy_percent", number(row.best_test_accuracy)},
                     {"mean_test_accuracy_percent", number(row.mean_test_accuracy)},
                     {"std_test_accuracy_percent", number(row.std_test_accuracy)},
                     {"best_train_accuracy_percent", number(row.best_train_accuracy)},
                     {"best_test_fisher", number(row.best_test_fisher)},
                     {"searcher_dir", dir}});
  }
  algorithms::RunOutputs out;
  out.algorithm = ring_algorithm_name(options.algorithm());
  out.config = options.resolved_config(options.gap());
  out.texts = {{"task", "ring_capacity"},
               {"criterion", options.criterion()},
               {"seed", std::to_string(options.seed())},
               {"select_by", options.select_by()}};
  out.numbers = {{"runs_per_gap", static_cast<double>(options.runs())},
                 {"gaps", static_cast<double>(capacity.rows.size())}};
  const auto tensor = [](const std::vector<double>& v) {
    return at::tensor(at::ArrayRef<double>(v), at::kDouble);
  };
  out.arrays = {{"gaps", tensor(gaps)},
                {"best_test_accuracy_percent", tensor(best)},
                {"mean_test_accuracy_percent", tensor(mean)},
                {"std_test_accuracy_percent", tensor(spread)},
                {"best_train_accuracy_percent", tensor(train)}};
  io::PlotSpec curve("Ring capacity: accuracy against gap");
  curve.xlabel = "gap";
  curve.ylabel = "accuracy (%)";
  curve.kind = io::PlotKind::line;
  curve.add({"best test", gaps, best, std::nullopt});
  curve.add({"mean test", gaps, mean, std::nullopt});
  curve.add({"best train", gaps, train, std::nullopt});
  out.plots.push_back({"capacity", {curve}});
  algorithms::write_run_outputs(capacity.run_dir, out);
  write_text(capacity.run_dir / "capacity_table.csv", csv);
  // summary.json gets the table beside what write_run_outputs put there.
  const auto summary_file = capacity.run_dir / "summary.json";
  nlohmann::json summary = nlohmann::json::parse(std::ifstream(summary_file));
  summary["table"] = table;
  summary["files"].push_back("capacity_table.csv");
  write_text(summary_file, summary.dump(2) + "\n");
}

}  // namespace

RingCapacityResult ring_capacity(processors::Processor processor, const RingOptions& options) {
  options.validate();
  if (options.data_file())
    throw ArgumentError("cannot run the ring capacity: data.load is set, but every gap needs its own "
                        "generated dataset (set data.load: false)");
  RingCapacityResult capacity;
  capacity.run_dir = create_run_directory(options.results_dir(), "capacity");
  for (const double gap : options.capacity_gaps()) {
    RingOptions at_gap = options;
    at_gap.gap(gap);
    const RingDataset data = generate_ring_data(options.sample_no(), gap, options.seed());
    capacity.rows.push_back(summarise(ring_searcher(processor, data, at_gap, capacity.run_dir)));
    log::info("ring capacity gap {:g}: best test accuracy {:.2f} %", gap,
              capacity.rows.back().best_test_accuracy);
  }
  write_capacity(capacity, options);
  return capacity;
}

std::string ring_table(const RingCapacityResult& capacity) {
  std::string text = "ring capacity (test accuracy, %)\n";
  text += fmt::format("  {:>9}  {:>9}  {:>15}  {:>9}\n", "gap", "best", "mean ± std", "train");
  for (const auto& row : capacity.rows)
    text += fmt::format("  {:>9.5g}  {:>9.2f}  {:>7.2f} ± {:<5.2f}  {:>9.2f}\n", row.gap,
                        row.best_test_accuracy, row.mean_test_accuracy, row.std_test_accuracy,
                        row.best_train_accuracy);
  text += "results: " + capacity.run_dir.string() + "\n";
  return text;
}

}  // namespace brains::tasks
