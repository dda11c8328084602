// Run-directory output of the boolean tasks: summary.json, results.npz and plots, written
// through the algorithms layer's run-output writer.
#include <ATen/ATen.h>

#include "brains/algorithms/run_outputs.h"
#include "brains/tasks/boolean.h"
#include "brains/tasks/boolean_data.h"

namespace brains::tasks {

namespace {

std::vector<double> to_vector(const at::Tensor& tensor) {
  const at::Tensor flat = tensor.detach().to(at::kDouble).contiguous().flatten();
  return {flat.data_ptr<double>(), flat.data_ptr<double>() + flat.numel()};
}

at::Tensor column(const std::vector<GateResult>& gates, double GateResult::*field) {
  std::vector<double> values;
  for (const auto& gate : gates) values.push_back(gate.*field);
  return at::tensor(values, at::kDouble);
}

}  // namespace

void write_gate_result(const std::filesystem::path& run_dir, const GateResult& result,
                       const std::optional<Config>& config) {
  algorithms::RunOutputs outputs;
  outputs.algorithm = "boolean";
  outputs.config = config;
  outputs.texts = {{"gate", result.gate}, {"found", result.found ? "true" : "false"}};
  outputs.numbers = {{"accuracy_percent", result.accuracy_percent},
                     {"correlation", result.correlation},
                     {"threshold", result.threshold},
                     {"attempts", static_cast<double>(result.attempts)},
                     {"seconds", result.seconds}};
  const at::Tensor labels = gate_from_labels(result.gate);
  outputs.arrays = {{"outputs", result.outputs}, {"targets", labels}, {"control_voltages", result.control_voltages}};
  io::PlotSpec spec("gate " + result.gate + (result.found ? " (found)" : " (not found)"));
  spec.xlabel = "point";
  spec.ylabel = "output current (nA)";
  spec.kind = io::PlotKind::scatter;
  spec.add({"output", {}, to_vector(result.outputs), std::nullopt});
  outputs.plots = {{"output_vs_target", {spec}}};
  algorithms::write_run_outputs(run_dir, outputs);
}

void write_vc_dimension_result(const std::filesystem::path& run_dir, const VcDimensionResult& result,
                               const std::optional<Config>& config) {
  algorithms::RunOutputs outputs;
  outputs.algorithm = "vc-dimension";
  outputs.config = config;
  std::int64_t found = 0;
  for (const auto& gate : result.gates) found += gate.found;
  outputs.numbers = {{"dimension", static_cast<double>(result.dimension)},
                     {"threshold", result.threshold},
                     {"capacity", result.capacity},
                     {"found", static_cast<double>(found)},
                     {"gates", static_cast<double>(result.gates.size())},
                     {"seconds", result.seconds}};
  outputs.arrays = {{"targets", all_dichotomies(result.dimension)},
                    {"accuracies", column(result.gates, &GateResult::accuracy_percent)},
                    {"correlations", column(result.gates, &GateResult::correlation)},
                    {"found", at::tensor(std::vector<double>(result.gates.size()), at::kDouble)}};
  for (std::size_t i = 0; i < result.gates.size(); ++i) outputs.arrays.back().second[i] = result.gates[i].found;
  io::PlotSpec spec("VC dimension " + std::to_string(result.dimension));
  spec.xlabel = "|correlation|";
  spec.ylabel = "accuracy (%)";
  spec.kind = io::PlotKind::scatter;
  spec.add({"gates", to_vector(column(result.gates, &GateResult::correlation).abs()),
            to_vector(column(result.gates, &GateResult::accuracy_percent)), std::nullopt});
  spec.add({"threshold", {0.0, 1.0}, {result.threshold * 100, result.threshold * 100}, io::PlotKind::line});
  outputs.plots = {{"accuracy_vs_correlation", {spec}}};
  algorithms::write_run_outputs(run_dir, outputs);
}

void write_capacity_result(const std::filesystem::path& run_dir,
                           const std::vector<VcDimensionResult>& results,
                           const std::optional<Config>& config) {
  algorithms::RunOutputs outputs;
  outputs.algorithm = "capacity";
  outputs.config = config;
  std::vector<double> dimensions;
  std::vector<double> capacities;
  for (const auto& result : results) {
    dimensions.push_back(static_cast<double>(result.dimension));
    capacities.push_back(result.capacity);
    outputs.numbers.emplace_back("capacity_" + std::to_string(result.dimension), result.capacity);
  }
  outputs.arrays = {{"dimensions", at::tensor(dimensions, at::kDouble)},
                    {"capacity", at::tensor(capacities, at::kDouble)}};
  io::PlotSpec spec("capacity over N");
  spec.xlabel = "N (points)";
  spec.ylabel = "capacity (found / all dichotomies)";
  spec.yrange = std::make_pair(0.0, 1.05);
  spec.add({"capacity", dimensions, capacities, std::nullopt});
  outputs.plots = {{"capacity_over_n", {spec}}};
  algorithms::write_run_outputs(run_dir, outputs);
}

}  // namespace brains::tasks
