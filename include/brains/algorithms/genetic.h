// Genetic algorithm (brains-py spec §9): searches the control voltages of a DNPU layer for a
// task. Each generation keeps the best partition[0] genomes (elites) and replaces the other
// partition[1] with offspring: parents by stochastic universal sampling over linear-rank
// probabilities, BLX-α-β crossover, triangular mutation at a rate that decays over the run,
// and re-drawing of duplicate genomes.
//
// Fixed against upstream (§15.16–22): one seeded RNG for every draw; NaN fitness ranks worst;
// the model holds the best genome at the end; every node's controls are genes (multi-node);
// the whole population runs in one batched forward; no division by zero for one generation or
// one genome; the parent count is always 2·partition[1]; duplicates never touch elites; the
// stop threshold is compared with the fitness (brains-py compared the correlation; set
// stop_on("correlation") for that); a run can be checkpointed and resumed exactly.
//
// Example:
//   auto options = GeneticOptions::from_config(configs.at("algorithm")).seed(1);
//   auto result = train_genetic(*dnpu, inputs, targets, criterion("corrsig_fit"), options);
//   // dnpu now holds result.best_genome
//
// Raises: ArgumentError (bad shapes, partition that does not fit the population, checkpoint
//         that does not fit the run), ConfigError (from_config, naming the key path),
//         FormatError (unreadable checkpoint), InterruptedError (SIGINT/SIGTERM; a checkpoint
//         is written first when checkpoint_dir is set).
#pragma once

#include <ATen/core/Tensor.h>
#include <torch/arg.h>

#include <cstdint>
#include <filesystem>
#include <functional>
#include <optional>
#include <random>
#include <string>
#include <vector>

#include "brains/algorithms/criteria.h"
#include "brains/core/config.h"

namespace brains::modules {
class DNPUImpl;
}

namespace brains::algorithms {

struct GeneticOptions {
  // {elites, offspring}: the population has their sum of genomes. brains-py: partition.
  TORCH_ARG(std::vector<std::int64_t>, partition) = std::vector<std::int64_t>{4, 22};
  // Generations to run. brains-py: epochs.
  TORCH_ARG(std::int64_t, generations) = 100;
  // Stop once the best value reaches this (unset: run every generation).
  TORCH_ARG(std::optional<double>, stop_threshold) = std::nullopt;
  // What stop_threshold is compared with: "fitness" or "correlation" (brains-py's choice).
  TORCH_ARG(std::string, stop_on) = "fitness";
  // Seed of the algorithm's one random stream (initial population and all operators).
  TORCH_ARG(std::uint64_t, seed) = 0;
  // BLX-α-β: the interval between the parents extends by α·d on the better parent's side
  // and by β·d on the other.
  TORCH_ARG(double, alpha) = 0.6;
  TORCH_ARG(double, beta) = 0.4;
  // Mutation probability per gene, decaying hyperbolically from start (first generation) to
  // end (last): 1/r(t) = (1−t)/start + t/end, t = g/(generations−1). The defaults are
  // brains-py's 0.625/(2 + 5t).
  TORCH_ARG(double, mutation_rate_start) = 0.625 / 2;
  TORCH_ARG(double, mutation_rate_end) = 0.625 / 7;
  // Linear-rank selection pressure s in [1, 2]: the best genome gets probability s/G, the
  // worst (2−s)/G. brains-py: 1.5.
  TORCH_ARG(double, selection_pressure) = 1.5;
  // Gene ranges (genes, 2), overriding the DNPU's control ranges. Also accepted: one row per
  // control electrode (repeated for every node) or one per activation electrode (the controls'
  // rows are taken). brains-py: gene_range (its configs spell it generange).
  TORCH_ARG(std::optional<at::Tensor>, gene_ranges) = std::nullopt;
  // Genomes whose output touches the clipping value or is constant get the criterion's
  // default_value, its worst (as brains-py).
  TORCH_ARG(bool, penalize_clipped) = true;
  // Write a checkpoint (checkpoint.npz + checkpoint.json) here every checkpoint_every
  // generations, when interrupted and at the end.
  TORCH_ARG(std::optional<std::filesystem::path>, checkpoint_dir) = std::nullopt;
  TORCH_ARG(std::int64_t, checkpoint_every) = 10;
  // Continue the run saved in this checkpoint directory.
  TORCH_ARG(std::optional<std::filesystem::path>, resume_from) = std::nullopt;
  // Progress bar on a terminal.
  TORCH_ARG(bool, progress) = true;

 public:  // TORCH_ARG leaves the section private
  std::int64_t population_size() const;
  // ArgumentError naming the bad value.
  void validate() const;
  // brains-py's keys: partition, epochs (or generations), stop_threshold, gene_range /
  // generange, seed, alpha, beta; optimizer/type/criterion are known and left to the caller.
  // Also: stop_on, mutation_rate_start/end, selection_pressure, penalize_clipped,
  // checkpoint_every. Unknown keys are warned about.
  static GeneticOptions from_config(const Config& configs);
};

// The optimiser alone: a population of genomes (G, genes) in float32 and the operators
// that breed the next one from a fitness per genome (higher is better, NaN worst). Every
// random draw comes from one std::mt19937_64, whose state can be saved and restored.
class GeneticOptimizer {
 public:
  // A population drawn uniformly within gene_ranges (genes, 2).
  GeneticOptimizer(const at::Tensor& gene_ranges, GeneticOptions options);
  // Resumes from saved state; `population` must have sum(partition) rows.
  GeneticOptimizer(const at::Tensor& gene_ranges, GeneticOptions options, at::Tensor population,
                   std::int64_t generation, const std::string& rng_state);
  GeneticOptimizer(GeneticOptimizer&&) = default;
  GeneticOptimizer& operator=(GeneticOptimizer&&) = default;
  GeneticOptimizer(const GeneticOptimizer&) = delete;
  GeneticOptimizer& operator=(const GeneticOptimizer&) = delete;

  // (G, genes) float32, contiguous.
  const at::Tensor& population() const noexcept { return population_; }
  // Steps taken so far.
  std::int64_t generation() const noexcept { return generation_; }
  const GeneticOptions& options() const noexcept { return options_; }
  const at::Tensor& gene_ranges() const noexcept { return ranges_; }
  std::int64_t gene_count() const noexcept { return genes_; }

  // One generation: rank by fitness (G,), keep the elites, breed offspring, mutate them,
  // re-draw duplicates. Returns the new population.
  const at::Tensor& next_generation(const at::Tensor& fitness);

  // --- the operators, public so they can be tested one by one
  // Genome indices best first; NaN last; ties keep index order.
  static std::vector<std::int64_t> rank_order(const std::vector<double>& fitness);
  // Selection probability of each rank (best first); sums to 1.
  std::vector<double> rank_probabilities() const;
  // 2·partition[1] ranks chosen by stochastic universal sampling, shuffled.
  std::vector<std::int64_t> select_parents();
  // BLX-α-β offspring of two genomes (genes,), clipped to the gene ranges.
  at::Tensor crossover(const at::Tensor& better, const at::Tensor& worse);
  // Mutation probability for the current generation.
  double mutation_rate() const;
  // Mutates rows partition[0]… of `population` in place (triangular around each gene).
  void mutate(at::Tensor& population);
  // Re-draws later copies of equal rows in place (elites, which come first, are kept).
  // Returns how many rows were re-drawn.
  std::int64_t remove_duplicates(at::Tensor& population);

  // The RNG state as text (std::mt19937_64's stream format).
  std::string rng_state() const;

 private:
  void crossover_into(const float* better, const float* worse, float* child);
  double uniform();  // [0, 1)
  double triangular(double low, double mode, double high);
  void check_population(const at::Tensor& population) const;

  GeneticOptions options_;
  at::Tensor ranges_;  // (genes, 2) float32
  std::vector<float> low_, high_;
  std::int64_t genes_ = 0;
  at::Tensor population_;
  std::int64_t generation_ = 0;
  std::mt19937_64 rng_;
};

// Reported after each generation.
struct GenerationLog {
  std::int64_t generation = 0;
  double best_fitness = 0;              // this generation's best
  double best_correlation = 0;          // Pearson correlation of its output with the targets
  double mean_fitness = 0;              // over genomes with a finite fitness
  bool improved = false;                // a new best of the run
  const at::Tensor* fitness = nullptr;  // (G,) criterion values, penalties applied
};

struct GeneticCallbacks {
  std::function<void(const GenerationLog&)> on_generation;
};

struct GeneticResult {
  at::Tensor best_genome;  // (genes,) = (nodes·n_ctrl,)
  at::Tensor best_output;  // (points, outputs) of the best genome
  at::Tensor targets;      // as the criterion saw them (formatted for plateaus)
  double best_fitness = 0;
  double best_correlation = 0;
  std::int64_t best_generation = 0;
  std::int64_t generations_run = 0;
  bool stopped_early = false;  // the stop threshold was reached
  std::uint64_t seed = 0;
  double seconds = 0;  // this call only (not earlier runs of a resumed checkpoint)
  std::string criterion;
  // Per generation: best fitness, its correlation, mean finite fitness (all float64, (g,)),
  // and the best genome (g, genes) float32.
  at::Tensor fitness_history;
  at::Tensor correlation_history;
  at::Tensor mean_fitness_history;
  at::Tensor genome_history;
};

// Runs the whole population through `dnpu` in one call: population (G, nodes·n_ctrl) ->
// outputs (G, points, nodes·D_out) (points·P rows when plateaus are not averaged). No grad.
at::Tensor evaluate_population(modules::DNPUImpl& dnpu, const at::Tensor& inputs,
                               const at::Tensor& population);

// The gene ranges of `dnpu`'s control voltages (nodes·n_ctrl, 2), or the override of
// `options` mapped onto them.
at::Tensor gene_ranges_for(const modules::DNPUImpl& dnpu, const GeneticOptions& options);

// Searches control voltages of `dnpu` maximising `fitness` (or minimising it when
// !fitness.higher_is_better) on inputs (points, nodes·n_in) and targets (points, outputs).
// The criterion sees one column per genome: outputs and targets flattened per genome.
// At the end `dnpu` holds the best genome found.
GeneticResult train_genetic(modules::DNPUImpl& dnpu, const at::Tensor& inputs,
                            const at::Tensor& targets, const Criterion& fitness,
                            const GeneticOptions& options, const GeneticCallbacks& callbacks = {});

}  // namespace brains::algorithms
