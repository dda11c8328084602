// Ring classifier and searcher: training runs on one dataset, and what they write.
#include "brains/tasks/ring.h"

#include <ATen/ATen.h>
#include <fmt/format.h>

#include <chrono>
#include <cmath>
#include <limits>

#include "brains/algorithms/accuracy.h"
#include "brains/algorithms/criteria.h"
#include "brains/algorithms/run_outputs.h"
#include "brains/core/error.h"
#include "brains/core/log.h"
#include "brains/core/run_directory.h"
#include "brains/core/seed.h"
#include "brains/modules/dnpu.h"
#include "ring_outputs.h"

namespace brains::tasks {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

double first_value(const at::Tensor& values) {
  return values.detach().reshape({-1})[0].item<double>();
}

RingSplitResult evaluate_split(modules::DNPUImpl& dnpu, const algorithms::Dataset& split,
                               const algorithms::Criterion& criterion) {
  RingSplitResult out;
  const bool empty = !split.inputs.defined() || split.inputs.size(0) == 0;
  out.inputs = empty ? at::empty({0, 2}, at::kFloat) : split.inputs;
  out.targets = empty ? at::empty({0, 1}, at::kFloat) : split.targets;
  if (empty) {
    out.output = at::empty({0, 1}, at::kFloat);
    out.accuracy_percent = out.performance = out.correlation = out.fisher = kNaN;
    return out;
  }
  out.output = dnpu.forward(split.inputs).detach();
  out.performance = first_value(criterion.fn(out.output, split.targets));
  out.correlation = first_value(algorithms::pearson(out.output, split.targets));
  out.fisher = first_value(algorithms::fisher_fit(out.output, split.targets));
  return out;
}

// Accuracy on `split` with the training threshold (NaN when the split is empty).
void score(RingSplitResult& split, const RingRunResult& run) {
  if (split.output.size(0) == 0) return;
  split.accuracy_percent =
      algorithms::evaluate_threshold(split.output, split.targets, run.threshold, run.positive_above)
          .accuracy_percent;
}

std::string gap_text(double gap) { return fmt::format("{:g}", gap); }

// The selection key of a run: accuracy on the chosen split, then the criterion.
bool better_run(const RingRunResult& a, const RingRunResult& b, const std::string& select_by,
                bool higher_is_better) {
  const auto& sa = select_by == "validation" && a.validation.inputs.size(0) > 0 ? a.validation : a.test;
  const auto& sb = select_by == "validation" && b.validation.inputs.size(0) > 0 ? b.validation : b.test;
  if (sa.accuracy_percent != sb.accuracy_percent) return sa.accuracy_percent > sb.accuracy_percent;
  return higher_is_better ? sa.performance > sb.performance : sa.performance < sb.performance;
}

}  // namespace

RingRunResult train_ring(processors::Processor processor, const RingSplits& splits, double gap,
                         const RingOptions& options, std::uint64_t run_seed) {
  const auto rows = [](const algorithms::Dataset& d) { return d.inputs.defined() ? d.inputs.size(0) : 0; };
  if (rows(splits.train) == 0 || rows(splits.test) == 0)
    throw ArgumentError("cannot train the ring classifier: the training or test set is empty");
  const auto start = std::chrono::steady_clock::now();
  const algorithms::Criterion& criterion = algorithms::criterion(options.criterion());
  modules::DNPU dnpu(processor, modules::DNPUOptions({options.input_indices()}).seed(run_seed));
  dnpu->add_input_transform({-1.0, 1.0}, /*strict=*/true);  // default_ring: data on [-1, 1]

  RingRunResult run;
  run.algorithm = ring_algorithm_name(options.algorithm());
  run.criterion = options.criterion();
  run.seed = run_seed;
  run.gap = gap;
  if (run.algorithm == "genetic") {
    algorithms::GeneticOptions ga = options.genetic();
    ga.seed(run_seed);
    const auto result =
        algorithms::train_genetic(*dnpu, splits.train.inputs, splits.train.targets, criterion, ga);
    run.history = ring_values(result.fitness_history);
    run.second_history = ring_values(result.mean_fitness_history);
  } else {
    algorithms::GradientDescentOptions gd = options.gradient();
    gd.seed(run_seed);
    std::optional<algorithms::Dataset> validation;
    if (splits.validation.inputs.defined() && splits.validation.inputs.size(0) > 0)
      validation = splits.validation;
    const auto result = algorithms::train_gradient_descent(
        *dnpu, [&](const at::Tensor& x) { return dnpu->forward(x); }, splits.train, validation,
        criterion, gd);
    run.history = result.train_losses;
    run.second_history = result.val_losses;
  }

  at::NoGradGuard no_grad;
  run.train = evaluate_split(*dnpu, splits.train, criterion);
  run.validation = evaluate_split(*dnpu, splits.validation, criterion);
  run.test = evaluate_split(*dnpu, splits.test, criterion);
  const auto fit = algorithms::optimal_threshold_accuracy(run.train.output, run.train.targets);
  run.threshold = fit.threshold;
  run.positive_above = fit.positive_above;
  run.train.accuracy_percent = fit.accuracy_percent;
  score(run.validation, run);
  score(run.test, run);
  run.control_voltages = dnpu->control_voltages();
  run.seconds = std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
  return run;
}

RingRunResult ring_classifier(processors::Processor processor, const RingDataset& data,
                              const RingOptions& options) {
  const RingSplits splits = split_ring_data(data, options.split_percentages());
  RingRunResult run = train_ring(processor, splits, data.gap, options, options.seed());
  run.run_dir = create_run_directory(options.results_dir(), "ring_classification_gap_" + gap_text(data.gap));
  algorithms::RunOutputs out = ring_run_outputs(run, data, options);
  out.texts.insert(out.texts.begin(), {"task", "ring_classifier"});
  algorithms::write_run_outputs(run.run_dir, out);
  log::info("ring gap {}: accuracy train {:.2f} %, test {:.2f} % ({})", gap_text(data.gap),
            run.train.accuracy_percent, run.test.accuracy_percent, run.run_dir.string());
  return run;
}

RingSearchResult ring_searcher(processors::Processor processor, const RingDataset& data,
                               const RingOptions& options,
                               const std::optional<std::filesystem::path>& base) {
  options.validate();
  const RingSplits splits = split_ring_data(data, options.split_percentages());  // one dataset for all runs
  const bool higher_is_better = algorithms::criterion(options.criterion()).higher_is_better;
  RingSearchResult search;
  search.gap = data.gap;
  std::mt19937_64 seeds = make_rng(options.seed(), "ring_searcher");
  for (std::int64_t r = 0; r < options.runs(); ++r) {
    const std::uint64_t run_seed = seeds() >> 1;  // fits an int64 in npz and JSON readers
    search.runs.push_back(train_ring(processor, splits, data.gap, options, run_seed));
    const RingRunResult& run = search.runs.back();
    log::info("ring gap {} run {}/{} (seed {}): accuracy train {:.2f} %, test {:.2f} %",
              gap_text(data.gap), r + 1, options.runs(), run_seed, run.train.accuracy_percent,
              run.test.accuracy_percent);
    if (r > 0 && better_run(run, search.runs[search.best], options.select_by(), higher_is_better))
      search.best = static_cast<std::size_t>(r);
  }
  search.run_dir = create_run_directory(base.value_or(options.results_dir()),
                                        "searcher_" + gap_text(data.gap) + "gap");
  algorithms::write_run_outputs(search.run_dir, ring_search_outputs(search, data, options));
  return search;
}

std::string ring_table(const RingSearchResult& search) {
  std::string text = fmt::format("ring gap {}: {} run(s), best marked *\n", gap_text(search.gap),
                                 search.runs.size());
  text += fmt::format("  {:>3}  {:>20}  {:>9}  {:>9}  {:>9}  {:>12}\n", "run", "seed", "train %",
                      "valid. %", "test %", "criterion");
  for (std::size_t i = 0; i < search.runs.size(); ++i) {
    const RingRunResult& run = search.runs[i];
    text += fmt::format("{} {:>3}  {:>20}  {:>9.2f}  {:>9.2f}  {:>9.2f}  {:>12.5g}\n",
                        i == search.best ? '*' : ' ', i, run.seed, run.train.accuracy_percent,
                        run.validation.accuracy_percent, run.test.accuracy_percent,
                        run.test.performance);
  }
  text += "results: " + search.run_dir.string() + "\n";
  return text;
}

}  // namespace brains::tasks
