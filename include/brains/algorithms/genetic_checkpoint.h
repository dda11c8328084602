// Checkpoints of a genetic-algorithm run, taken between generations: enough to continue the
// run and get exactly the result an uninterrupted run gives. Written as two plain files in a
// directory, never as pickled modules:
//   checkpoint.npz   population, gene ranges, best genome and output, histories, best scalars
//   checkpoint.json  generation, seed, partition, generations, criterion, RNG state, flags
//
// Raises: FormatError (missing or inconsistent files), Error (cannot write).
#pragma once

#include <ATen/core/Tensor.h>

#include <cstdint>
#include <filesystem>
#include <string>
#include <vector>

namespace brains::algorithms {

struct GeneticCheckpoint {
  // Generations evaluated so far; `population` is the next one to evaluate.
  std::int64_t generation = 0;
  at::Tensor population;  // (G, genes) float32
  std::string rng_state;  // GeneticOptimizer::rng_state()
  bool finished = false;  // the run ended (all generations, or the stop threshold)
  bool stopped_early = false;

  // The run's settings, checked on resume.
  std::vector<std::int64_t> partition;
  std::int64_t generations = 0;
  std::uint64_t seed = 0;
  std::string criterion;
  at::Tensor gene_ranges;  // (genes, 2) float32

  // Best so far (has_best is false before the first generation).
  bool has_best = false;
  at::Tensor best_genome;  // (genes,)
  at::Tensor best_output;  // (points, outputs)
  double best_fitness = 0;
  double best_correlation = 0;
  std::int64_t best_generation = 0;

  // Per generation evaluated: float64 (g,) and float32 (g, genes).
  at::Tensor fitness_history;
  at::Tensor correlation_history;
  at::Tensor mean_fitness_history;
  at::Tensor genome_history;
};

// Creates `dir` if needed; each file is replaced atomically.
void save_genetic_checkpoint(const std::filesystem::path& dir, const GeneticCheckpoint& checkpoint);
GeneticCheckpoint load_genetic_checkpoint(const std::filesystem::path& dir);

}  // namespace brains::algorithms
