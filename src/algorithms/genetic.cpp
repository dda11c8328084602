#include "brains/algorithms/genetic.h"

#include <ATen/ATen.h>
#include <fmt/format.h>
#include <fmt/ranges.h>

#include <algorithm>
#include <chrono>
#include <cmath>
#include <cstring>
#include <limits>
#include <numeric>
#include <sstream>

#include "brains/algorithms/genetic_checkpoint.h"
#include "brains/core/error.h"
#include "brains/core/interrupt.h"
#include "brains/core/log.h"
#include "brains/core/progress.h"
#include "brains/core/seed.h"
#include "brains/modules/dnpu.h"

namespace brains::algorithms {

namespace {

constexpr double kNaN = std::numeric_limits<double>::quiet_NaN();

// a ranks above b; NaN ranks below everything (upstream's argsort put it first, §15.17).
bool better(double a, double b) {
  if (std::isnan(a)) return false;
  if (std::isnan(b)) return true;
  return a > b;
}

std::string shape_text(const at::Tensor& t) {
  return t.defined() ? fmt::format("({})", fmt::join(t.sizes(), ", ")) : "an undefined tensor";
}

// Pearson correlation of two equally long columns; NaN for a constant one.
double pearson(const float* x, const float* y, std::int64_t n) {
  double mx = 0, my = 0;
  for (std::int64_t i = 0; i < n; ++i) mx += x[i], my += y[i];
  mx /= static_cast<double>(n);
  my /= static_cast<double>(n);
  double sxy = 0, sxx = 0, syy = 0;
  for (std::int64_t i = 0; i < n; ++i) {
    const double dx = x[i] - mx, dy = y[i] - my;
    sxy += dx * dy, sxx += dx * dx, syy += dy * dy;
  }
  return sxy / (std::sqrt(sxx) * std::sqrt(syy));
}

// Upstream's penalty cases: an output at the clipping value carries no information about the
// genome, and a constant one none about the task.
bool penalized(const float* out, std::int64_t n, float clip_low, float clip_high) {
  float lo = out[0], hi = out[0];
  for (std::int64_t i = 0; i < n; ++i) {
    if (out[i] <= clip_low || out[i] >= clip_high) return true;
    lo = std::min(lo, out[i]);
    hi = std::max(hi, out[i]);
  }
  return n > 1 && lo == hi;
}

at::Tensor doubles(const std::vector<double>& values) {
  return at::tensor(at::ArrayRef<double>(values), at::kDouble);
}

}  // namespace

// ---------------------------------------------------------------------------------------
// Options

std::int64_t GeneticOptions::population_size() const {
  return std::accumulate(partition_.begin(), partition_.end(), std::int64_t{0});
}

void GeneticOptions::validate() const {
  const auto fail = [](const std::string& reason) {
    throw ArgumentError("cannot run genetic algorithm: " + reason);
  };
  if (partition_.size() != 2)
    fail(fmt::format("partition [{}] must have two entries {{elites, offspring}}",
                     fmt::join(partition_, ", ")));
  if (partition_[0] < 1 || partition_[1] < 1)
    fail(fmt::format("partition [{}] needs at least 1 elite and 1 offspring",
                     fmt::join(partition_, ", ")));
  if (generations_ < 1) fail(fmt::format("generations must be at least 1, got {}", generations_));
  if (!(alpha_ >= 0) || !(beta_ >= 0) || !std::isfinite(alpha_) || !std::isfinite(beta_))
    fail(fmt::format("alpha and beta must be finite and non-negative, got {} and {}", alpha_,
                     beta_));
  for (const double rate : {mutation_rate_start_, mutation_rate_end_})
    if (!(rate > 0 && rate <= 1))
      fail(fmt::format("mutation rates must be in (0, 1], got {}", rate));
  if (!(selection_pressure_ >= 1 && selection_pressure_ <= 2))
    fail(fmt::format("selection_pressure must be in [1, 2], got {}", selection_pressure_));
  if (stop_on_ != "fitness" && stop_on_ != "correlation")
    fail("stop_on must be 'fitness' or 'correlation', got '" + stop_on_ + "'");
  if (checkpoint_every_ < 1)
    fail(fmt::format("checkpoint_every must be at least 1, got {}", checkpoint_every_));
}

GeneticOptions GeneticOptions::from_config(const Config& configs) {
  configs.warn_unknown_keys({"optimizer", "type", "criterion", "partition", "epochs", "generations",
                             "stop_threshold", "gene_range", "generange", "seed", "alpha", "beta",
                             "stop_on", "mutation_rate_start", "mutation_rate_end",
                             "selection_pressure", "penalize_clipped", "checkpoint_every"});
  GeneticOptions options;
  if (configs.has("partition")) {
    const Config value = configs.at("partition");
    const auto partition = value.as<std::vector<std::int64_t>>();
    if (partition.size() != 2 || partition[0] < 1 || partition[1] < 1)
      throw ConfigError(value.key_path(),
                        fmt::format("expected [elites, offspring], both at least 1, got [{}]",
                                    fmt::join(partition, ", ")));
    options.partition(partition);
  }
  if (const auto value = configs.find_any({"epochs", "generations"});
      value && !value->node().IsNull()) {
    const auto generations = value->as<std::int64_t>();
    if (generations < 1)
      throw ConfigError(value->key_path(),
                        fmt::format("expected at least 1 generation, got {}", generations));
    options.generations(generations);
  }
  if (configs.has("stop_threshold")) options.stop_threshold(configs.get<double>("stop_threshold"));
  std::string used;
  if (const auto value = configs.find_any({"gene_range", "generange"}, &used);
      value && !value->node().IsNull()) {
    const auto rows = value->as<std::vector<std::vector<double>>>();
    std::vector<float> flat;
    for (std::size_t i = 0; i < rows.size(); ++i) {
      if (rows[i].size() != 2 || !(rows[i][0] < rows[i][1]))
        throw ConfigError(value->key_path() + "[" + std::to_string(i) + "]",
                          "expected [min, max] with min < max");
      flat.push_back(static_cast<float>(rows[i][0]));
      flat.push_back(static_cast<float>(rows[i][1]));
    }
    if (rows.empty()) throw ConfigError(value->key_path(), "expected a list of [min, max] rows");
    options.gene_ranges(
        at::tensor(flat, at::kFloat).view({static_cast<std::int64_t>(rows.size()), 2}));
    if (used == "generange")
      log::info("{}: read as the gene ranges (brains-py reads gene_range and ignored this key)",
                value->key_path());
  }
  if (configs.has("seed")) {
    const auto seed = configs.get<std::int64_t>("seed");
    if (seed < 0) throw ConfigError(configs.key_path("seed"), "expected a non-negative integer");
    options.seed(static_cast<std::uint64_t>(seed));
  }
  options.alpha(configs.get<double>("alpha", options.alpha()));
  options.beta(configs.get<double>("beta", options.beta()));
  options.stop_on(configs.get<std::string>("stop_on", options.stop_on()));
  options.mutation_rate_start(
      configs.get<double>("mutation_rate_start", options.mutation_rate_start()));
  options.mutation_rate_end(configs.get<double>("mutation_rate_end", options.mutation_rate_end()));
  options.selection_pressure(
      configs.get<double>("selection_pressure", options.selection_pressure()));
  options.penalize_clipped(configs.get<bool>("penalize_clipped", options.penalize_clipped()));
  options.checkpoint_every(
      configs.get<std::int64_t>("checkpoint_every", options.checkpoint_every()));
  try {
    options.validate();
  } catch (const ArgumentError& error) {
    throw ConfigError(configs.key_path(), error.what());
  }
  return options;
}

// ---------------------------------------------------------------------------------------
// Optimizer

GeneticOptimizer::GeneticOptimizer(const at::Tensor& gene_ranges, GeneticOptions options)
    : options_(std::move(options)), rng_(make_rng(options_.seed(), "genetic")) {
  options_.validate();
  if (!gene_ranges.defined() || gene_ranges.dim() != 2 || gene_ranges.size(1) != 2 ||
      gene_ranges.size(0) < 1)
    throw ArgumentError(
        "cannot create genetic optimizer: gene ranges must have shape (genes, 2), got " +
        shape_text(gene_ranges));
  ranges_ = gene_ranges.detach().to(at::kFloat).contiguous().clone();
  genes_ = ranges_.size(0);
  const float* r = ranges_.data_ptr<float>();
  for (std::int64_t g = 0; g < genes_; ++g) {
    if (!std::isfinite(r[2 * g]) || !std::isfinite(r[2 * g + 1]) || !(r[2 * g] < r[2 * g + 1]))
      throw ArgumentError(fmt::format(
          "cannot create genetic optimizer: gene {} has range [{}, {}], expected finite min < max",
          g, r[2 * g], r[2 * g + 1]));
    low_.push_back(r[2 * g]);
    high_.push_back(r[2 * g + 1]);
  }
  const std::int64_t size = options_.population_size();
  population_ = at::empty({size, genes_}, at::kFloat);
  float* p = population_.data_ptr<float>();
  for (std::int64_t i = 0; i < size; ++i)
    for (std::int64_t g = 0; g < genes_; ++g)
      p[i * genes_ + g] = std::clamp(
          static_cast<float>(low_[g] + (static_cast<double>(high_[g]) - low_[g]) * uniform()),
          low_[g], high_[g]);
}

GeneticOptimizer::GeneticOptimizer(const at::Tensor& gene_ranges, GeneticOptions options,
                                   at::Tensor population, std::int64_t generation,
                                   const std::string& rng_state)
    : GeneticOptimizer(gene_ranges, std::move(options)) {
  check_population(population);
  population_ = population.detach().to(at::kFloat).contiguous().clone();
  if (generation < 0)
    throw ArgumentError(
        fmt::format("cannot resume genetic optimizer: generation {} is negative", generation));
  generation_ = generation;
  std::istringstream stream(rng_state);
  stream >> rng_;
  if (stream.fail())
    throw ArgumentError(
        "cannot resume genetic optimizer: the RNG state is not a std::mt19937_64 state");
}

void GeneticOptimizer::check_population(const at::Tensor& population) const {
  if (!population.defined() || population.dim() != 2)
    throw ArgumentError("cannot use population: expected (genomes, genes), got " +
                        shape_text(population));
  if (population.size(0) != options_.population_size())
    throw ArgumentError(fmt::format(
        "cannot use population: it has {} genomes, partition [{}] needs {}", population.size(0),
        fmt::join(options_.partition(), ", "), options_.population_size()));
  if (population.size(1) != genes_)
    throw ArgumentError(fmt::format("cannot use population: it has {} genes, the ranges give {}",
                                    population.size(1), genes_));
}

double GeneticOptimizer::uniform() {
  // 53 random bits: the same stream on every standard library (std distributions are not).
  return static_cast<double>(rng_() >> 11) * 0x1.0p-53;
}

double GeneticOptimizer::triangular(double low, double mode, double high) {
  mode = std::clamp(mode, low, high);
  const double u = uniform();
  const double width = high - low;
  const double split = (mode - low) / width;
  return u < split ? low + std::sqrt(u * width * (mode - low))
                   : high - std::sqrt((1 - u) * width * (high - mode));
}

std::vector<std::int64_t> GeneticOptimizer::rank_order(const std::vector<double>& fitness) {
  std::vector<std::int64_t> order(fitness.size());
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(),
                   [&](std::int64_t a, std::int64_t b) { return better(fitness[a], fitness[b]); });
  return order;
}

std::vector<double> GeneticOptimizer::rank_probabilities() const {
  const std::int64_t size = options_.population_size();
  if (size == 1) return {1.0};
  const double s = options_.selection_pressure();
  std::vector<double> p(size);
  for (std::int64_t r = 0; r < size; ++r)
    p[r] = (s - (2 * s - 2) * static_cast<double>(r) / static_cast<double>(size - 1)) /
           static_cast<double>(size);
  return p;
}

std::vector<std::int64_t> GeneticOptimizer::select_parents() {
  const std::vector<double> p = rank_probabilities();
  const auto last = static_cast<std::int64_t>(p.size()) - 1;
  const std::int64_t count = 2 * options_.partition()[1];
  const double step = 1.0 / static_cast<double>(count);
  const double start = uniform() * step;
  std::vector<std::int64_t> chosen;
  chosen.reserve(count);
  std::int64_t i = 0;
  double cumulative = p[0];
  for (std::int64_t j = 0; j < count; ++j) {
    const double pointer = start + static_cast<double>(j) * step;
    // A pointer at or past the rounded total picks the last rank (upstream dropped it, §15.19).
    while (i < last && pointer >= cumulative) cumulative += p[++i];
    chosen.push_back(i);
  }
  for (std::int64_t k = count - 1; k > 0; --k) {  // Fisher–Yates
    const auto r = std::min<std::int64_t>(
        k, static_cast<std::int64_t>(uniform() * static_cast<double>(k + 1)));
    std::swap(chosen[k], chosen[r]);
  }
  return chosen;
}

at::Tensor GeneticOptimizer::crossover(const at::Tensor& better_parent,
                                       const at::Tensor& worse_parent) {
  const at::Tensor a = better_parent.detach().to(at::kFloat).contiguous().view({-1});
  const at::Tensor b = worse_parent.detach().to(at::kFloat).contiguous().view({-1});
  if (a.numel() != genes_ || b.numel() != genes_)
    throw ArgumentError(fmt::format("cannot cross genomes: expected {} genes, got {} and {}",
                                    genes_, a.numel(), b.numel()));
  at::Tensor child = at::empty({genes_}, at::kFloat);
  crossover_into(a.data_ptr<float>(), b.data_ptr<float>(), child.data_ptr<float>());
  return child;
}

void GeneticOptimizer::crossover_into(const float* p1, const float* p2, float* child) {
  const double alpha = options_.alpha(), beta = options_.beta();
  for (std::int64_t g = 0; g < genes_; ++g) {
    const double lo = std::min(p1[g], p2[g]), hi = std::max(p1[g], p2[g]), d = hi - lo;
    double value = p1[g];
    // The interval reaches further (α) beyond the better parent than beyond the worse (β).
    if (p1[g] > p2[g])
      value = lo - beta * d + (hi + alpha * d - (lo - beta * d)) * uniform();
    else if (p1[g] < p2[g])
      value = lo - alpha * d + (hi + beta * d - (lo - alpha * d)) * uniform();
    child[g] = std::clamp(static_cast<float>(value), low_[g], high_[g]);
  }
}

double GeneticOptimizer::mutation_rate() const {
  const std::int64_t last = options_.generations() - 1;
  const double t = last > 0 ? std::clamp(static_cast<double>(generation_) / last, 0.0, 1.0) : 0.0;
  return 1.0 / ((1 - t) / options_.mutation_rate_start() + t / options_.mutation_rate_end());
}

void GeneticOptimizer::mutate(at::Tensor& population) {
  check_population(population);
  if (!population.is_contiguous() || population.scalar_type() != at::kFloat)
    throw ArgumentError("cannot mutate population: expected a contiguous float32 tensor");
  const double rate = mutation_rate();
  float* p = population.data_ptr<float>();
  for (std::int64_t i = options_.partition()[0]; i < population.size(0); ++i)
    for (std::int64_t g = 0; g < genes_; ++g)
      if (uniform() < rate) {
        float& gene = p[i * genes_ + g];
        gene =
            std::clamp(static_cast<float>(triangular(low_[g], gene, high_[g])), low_[g], high_[g]);
      }
}

std::int64_t GeneticOptimizer::remove_duplicates(at::Tensor& population) {
  check_population(population);
  if (!population.is_contiguous() || population.scalar_type() != at::kFloat)
    throw ArgumentError("cannot remove duplicates: expected a contiguous float32 tensor");
  float* p = population.data_ptr<float>();
  const std::int64_t size = population.size(0);
  const auto same = [&](std::int64_t a, std::int64_t b) {
    return std::equal(p + a * genes_, p + (a + 1) * genes_, p + b * genes_);
  };
  std::int64_t redrawn = 0;
  for (std::int64_t i = 1; i < size; ++i) {
    bool counted = false;
    // A re-drawn row could, in principle, meet another copy; draw until it is unique.
    for (int attempt = 0; attempt < 100; ++attempt) {
      bool duplicate = false;
      for (std::int64_t j = 0; j < i && !duplicate; ++j) duplicate = same(i, j);
      if (!duplicate) break;
      if (!counted) ++redrawn, counted = true;
      for (std::int64_t g = 0; g < genes_; ++g) {
        float& gene = p[i * genes_ + g];
        gene =
            std::clamp(static_cast<float>(triangular(low_[g], gene, high_[g])), low_[g], high_[g]);
      }
    }
  }
  return redrawn;
}

const at::Tensor& GeneticOptimizer::next_generation(const at::Tensor& fitness) {
  const std::int64_t size = options_.population_size();
  if (!fitness.defined() || fitness.numel() != size)
    throw ArgumentError(
        fmt::format("cannot breed next generation: expected {} fitness values, got {}", size,
                    fitness.defined() ? fitness.numel() : 0));
  const at::Tensor values = fitness.detach().to(at::kDouble).contiguous().view({-1});
  const std::vector<double> f(values.data_ptr<double>(), values.data_ptr<double>() + size);
  const std::vector<std::int64_t> order = rank_order(f);

  // Ranked copy of the population: row r holds the genome of rank r.
  at::Tensor ranked = at::empty({size, genes_}, at::kFloat);
  const float* src = population_.data_ptr<float>();
  float* dst = ranked.data_ptr<float>();
  for (std::int64_t r = 0; r < size; ++r)
    std::memcpy(dst + r * genes_, src + order[r] * genes_, sizeof(float) * genes_);

  const std::vector<std::int64_t> parents = select_parents();
  const std::int64_t elites = options_.partition()[0];
  at::Tensor next = ranked.clone();  // elites stay in rows 0 … elites−1
  float* child = next.data_ptr<float>() + elites * genes_;
  for (std::int64_t k = 0; k < options_.partition()[1]; ++k, child += genes_) {
    std::int64_t a = parents[2 * k], b = parents[2 * k + 1];
    if (a == b) a = a == 0 ? 1 : a - 1;  // a genome does not mate with itself (as brains-py)
    crossover_into(dst + std::min(a, b) * genes_, dst + std::max(a, b) * genes_, child);
  }
  mutate(next);
  remove_duplicates(next);
  population_ = next;
  ++generation_;
  return population_;
}

std::string GeneticOptimizer::rng_state() const {
  std::ostringstream stream;
  stream << rng_;
  return stream.str();
}

// ---------------------------------------------------------------------------------------
// Evaluation and the training loop

at::Tensor evaluate_population(modules::DNPUImpl& dnpu, const at::Tensor& inputs,
                               const at::Tensor& population) {
  const std::int64_t nodes = dnpu.node_count();
  const std::int64_t controls = dnpu.control_electrode_count();
  if (!population.defined() || population.dim() != 2 || population.size(1) != nodes * controls)
    throw ArgumentError(fmt::format(
        "cannot evaluate population: expected (genomes, {}) for {} nodes × {} controls, got {}",
        nodes * controls, nodes, controls, shape_text(population)));
  at::NoGradGuard no_grad;
  return dnpu.forward_population(inputs, population.to(dnpu.control_ranges().scalar_type())
                                             .view({population.size(0), nodes, controls}));
}

at::Tensor gene_ranges_for(const modules::DNPUImpl& dnpu, const GeneticOptions& options) {
  const std::int64_t nodes = dnpu.node_count();
  const std::int64_t controls = dnpu.control_electrode_count();
  const at::Tensor own =
      dnpu.control_ranges().detach().to(at::kFloat).reshape({nodes * controls, 2});
  if (!options.gene_ranges()) return own.contiguous().clone();
  const at::Tensor given = options.gene_ranges()->detach().to(at::kFloat);
  const std::int64_t electrodes = dnpu.data_input_electrode_count() + controls;
  at::Tensor ranges;
  if (given.dim() == 2 && given.size(1) == 2) {
    if (given.size(0) == nodes * controls)
      ranges = given;
    else if (given.size(0) == controls)
      ranges = given.repeat({nodes, 1});
    else if (given.size(0) == electrodes)
      ranges = given.index_select(0, dnpu.control_indices().flatten());
  }
  if (!ranges.defined())
    throw ArgumentError(fmt::format(
        "cannot use gene ranges {}: expected (n, 2) with n = {} (nodes × controls), {} (controls) "
        "or {} (activation electrodes)",
        shape_text(given), nodes * controls, controls, electrodes));
  if ((ranges.select(1, 0) < own.select(1, 0)).any().item<bool>() ||
      (ranges.select(1, 1) > own.select(1, 1)).any().item<bool>())
    log::warn("the gene ranges reach outside the device's control-voltage ranges");
  return ranges.contiguous().clone();
}

namespace {

// Everything a run carries from one generation to the next, and its checkpoint form.
struct RunState {
  std::vector<double> fitness_history, correlation_history, mean_fitness_history;
  std::vector<float> genome_history;  // flat (g, genes)
  bool has_best = false;
  std::vector<float> best_genome;
  at::Tensor best_output;
  double best_fitness = kNaN;
  double best_correlation = kNaN;
  std::int64_t best_generation = 0;
  bool stopped_early = false;
};

GeneticCheckpoint make_checkpoint(const RunState& state, const GeneticOptimizer& optimizer,
                                  const std::string& criterion, bool finished) {
  GeneticCheckpoint checkpoint;
  const auto& options = optimizer.options();
  const std::int64_t genes = optimizer.gene_count();
  checkpoint.generation = static_cast<std::int64_t>(state.fitness_history.size());
  checkpoint.population = optimizer.population().clone();
  checkpoint.rng_state = optimizer.rng_state();
  checkpoint.finished = finished;
  checkpoint.stopped_early = state.stopped_early;
  checkpoint.partition = options.partition();
  checkpoint.generations = options.generations();
  checkpoint.seed = options.seed();
  checkpoint.criterion = criterion;
  checkpoint.gene_ranges = optimizer.gene_ranges().clone();
  checkpoint.has_best = state.has_best;
  checkpoint.best_genome = at::tensor(at::ArrayRef<float>(state.best_genome), at::kFloat);
  checkpoint.best_output = state.has_best ? state.best_output.clone() : at::empty({0}, at::kFloat);
  checkpoint.best_fitness = state.best_fitness;
  checkpoint.best_correlation = state.best_correlation;
  checkpoint.best_generation = state.best_generation;
  checkpoint.fitness_history = doubles(state.fitness_history);
  checkpoint.correlation_history = doubles(state.correlation_history);
  checkpoint.mean_fitness_history = doubles(state.mean_fitness_history);
  checkpoint.genome_history = at::tensor(at::ArrayRef<float>(state.genome_history), at::kFloat)
                                  .view({checkpoint.generation, genes});
  return checkpoint;
}

std::vector<double> to_doubles(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kDouble).contiguous().view({-1});
  return {c.data_ptr<double>(), c.data_ptr<double>() + c.numel()};
}

std::vector<float> to_floats(const at::Tensor& t) {
  const at::Tensor c = t.to(at::kFloat).contiguous().view({-1});
  return {c.data_ptr<float>(), c.data_ptr<float>() + c.numel()};
}

// Restores a run from `checkpoint`, checking that it belongs to a run with these settings.
GeneticOptimizer resume(const GeneticCheckpoint& checkpoint, const at::Tensor& ranges,
                        const GeneticOptions& options, const std::string& criterion,
                        RunState& state) {
  const auto& dir = *options.resume_from();
  if (checkpoint.partition != options.partition())
    throw ArgumentError(fmt::format(
        "cannot resume genetic algorithm from {}: it was run with partition [{}], not [{}]",
        dir.string(), fmt::join(checkpoint.partition, ", "), fmt::join(options.partition(), ", ")));
  if (!checkpoint.gene_ranges.sizes().equals(ranges.sizes()) ||
      !at::equal(checkpoint.gene_ranges, ranges))
    throw ArgumentError(fmt::format(
        "cannot resume genetic algorithm from {}: its gene ranges {} differ from this model's {}",
        dir.string(), shape_text(checkpoint.gene_ranges), shape_text(ranges)));
  if (checkpoint.seed != options.seed() || checkpoint.generations != options.generations() ||
      checkpoint.criterion != criterion)
    log::warn(
        "resuming {} (seed {}, {} generations, criterion {}) with seed {}, {} generations, "
        "criterion {}: the result will differ from an uninterrupted run",
        dir.string(), checkpoint.seed, checkpoint.generations, checkpoint.criterion, options.seed(),
        options.generations(), criterion);
  state.fitness_history = to_doubles(checkpoint.fitness_history);
  state.correlation_history = to_doubles(checkpoint.correlation_history);
  state.mean_fitness_history = to_doubles(checkpoint.mean_fitness_history);
  state.genome_history = to_floats(checkpoint.genome_history);
  state.has_best = checkpoint.has_best;
  state.best_genome = to_floats(checkpoint.best_genome);
  state.best_output = checkpoint.best_output;
  state.best_fitness = checkpoint.best_fitness;
  state.best_correlation = checkpoint.best_correlation;
  state.best_generation = checkpoint.best_generation;
  state.stopped_early = checkpoint.stopped_early;
  return GeneticOptimizer(ranges, options, checkpoint.population, checkpoint.generation,
                          checkpoint.rng_state);
}

// Puts the model back in the mode it had and hands it the best genome, however the run
// ends (an interrupt included).
class ModelGuard {
 public:
  ModelGuard(modules::DNPUImpl& dnpu, const RunState& state)
      : dnpu_(dnpu), state_(state), was_training_(dnpu.is_training()) {
    dnpu_.eval();
  }
  ~ModelGuard() {
    try {
      if (!installed_) install_best();
    } catch (...) {  // a destructor only reports
      log::error("cannot set the best genome into the model after the genetic algorithm stopped");
    }
    dnpu_.train(was_training_);
  }
  ModelGuard(const ModelGuard&) = delete;
  ModelGuard& operator=(const ModelGuard&) = delete;

  void install_best() {
    installed_ = true;
    if (!state_.has_best) return;
    const at::Tensor& current = dnpu_.control_voltages_parameter();
    dnpu_.set_control_voltages(at::tensor(at::ArrayRef<float>(state_.best_genome), at::kFloat)
                                   .to(current.scalar_type())
                                   .view(current.sizes()));
  }

 private:
  modules::DNPUImpl& dnpu_;
  const RunState& state_;
  bool was_training_;
  bool installed_ = false;
};

}  // namespace

GeneticResult train_genetic(modules::DNPUImpl& dnpu, const at::Tensor& inputs,
                            const at::Tensor& targets, const Criterion& fitness,
                            const GeneticOptions& options, const GeneticCallbacks& callbacks) {
  const auto started = std::chrono::steady_clock::now();
  options.validate();
  if (!fitness.fn)
    throw ArgumentError("cannot train genetic algorithm: criterion '" + fitness.name +
                        "' has no function");
  if (!inputs.defined() || inputs.dim() != 2 || inputs.size(0) == 0)
    throw ArgumentError(
        "cannot train genetic algorithm: inputs must be (points, inputs) with at least one point, "
        "got " +
        shape_text(inputs));
  if (!targets.defined() || targets.dim() < 1 || targets.size(0) != inputs.size(0))
    throw ArgumentError(fmt::format(
        "cannot train genetic algorithm: targets {} must have one row per input point ({})",
        shape_text(targets), inputs.size(0)));

  const at::Tensor ranges = gene_ranges_for(dnpu, options);
  const at::Tensor target = dnpu.format_targets(targets.detach().to(at::kFloat)).contiguous();
  const at::Tensor target_column = target.view({-1, 1});
  const std::int64_t values_per_genome = target_column.size(0);
  const double sign = fitness.higher_is_better ? 1.0 : -1.0;  // ranking is on sign·fitness
  const at::Tensor clipping = dnpu.processor()->clipping_value().to(at::kDouble).cpu();
  const auto clip_low = static_cast<float>(clipping[0].item<double>());
  const auto clip_high = static_cast<float>(clipping[1].item<double>());

  RunState state;
  std::optional<GeneticOptimizer> optimizer;
  if (options.resume_from()) {
    optimizer.emplace(resume(load_genetic_checkpoint(*options.resume_from()), ranges, options,
                             fitness.name, state));
    log::info("genetic algorithm resumed from {} at generation {}", options.resume_from()->string(),
              state.fitness_history.size());
  } else {
    optimizer.emplace(ranges, options);
  }
  const std::int64_t genes = optimizer->gene_count();
  const std::int64_t size = options.population_size();
  const auto save = [&](bool finished) {
    if (options.checkpoint_dir())
      save_genetic_checkpoint(*options.checkpoint_dir(),
                              make_checkpoint(state, *optimizer, fitness.name, finished));
  };

  ModelGuard model(dnpu, state);
  const auto first = static_cast<std::int64_t>(state.fitness_history.size());
  ProgressBar bar("genetic", std::max<std::int64_t>(0, options.generations() - first),
                  options.progress() && progress_enabled());
  std::vector<double> f(size), score(size);
  for (std::int64_t g = first; g < options.generations() && !state.stopped_early; ++g) {
    const at::Tensor outputs =
        evaluate_population(dnpu, inputs, optimizer->population()).to(at::kFloat).contiguous();
    const at::Tensor columns = outputs.view({size, -1});
    if (columns.size(1) != values_per_genome)
      throw ArgumentError(fmt::format(
          "cannot train genetic algorithm: the model gives {} outputs per genome, the targets {}",
          fmt::join(outputs.sizes().slice(1), "×"), fmt::join(target.sizes(), "×")));
    const at::Tensor values =
        fitness.fn(columns.t(), target_column.expand({values_per_genome, size}))
            .detach()
            .to(at::kDouble)
            .contiguous();
    if (values.numel() != size)
      throw ArgumentError(fmt::format("cannot use criterion '{}': it gave {} values for {} genomes",
                                      fitness.name, values.numel(), size));
    const float* out = columns.data_ptr<float>();
    for (std::int64_t i = 0; i < size; ++i) {
      f[i] = values.data_ptr<double>()[i];
      if (options.penalize_clipped() &&
          penalized(out + i * values_per_genome, values_per_genome, clip_low, clip_high))
        f[i] = fitness.default_value;
      score[i] = sign * f[i];
    }

    std::int64_t best = 0;
    double finite_sum = 0;
    std::int64_t finite_count = 0;
    for (std::int64_t i = 0; i < size; ++i) {
      if (better(score[i], score[best])) best = i;
      if (std::isfinite(f[i])) finite_sum += f[i], ++finite_count;
    }
    const float* best_out = out + best * values_per_genome;
    const double correlation =
        pearson(best_out, target_column.data_ptr<float>(), values_per_genome);
    const float* genome = optimizer->population().data_ptr<float>() + best * genes;
    state.fitness_history.push_back(f[best]);
    state.correlation_history.push_back(correlation);
    state.mean_fitness_history.push_back(finite_count ? finite_sum / finite_count : kNaN);
    state.genome_history.insert(state.genome_history.end(), genome, genome + genes);
    const bool improved = !state.has_best || better(score[best], sign * state.best_fitness);
    if (improved) {
      state.has_best = true;
      state.best_genome.assign(genome, genome + genes);
      state.best_output = outputs[best].clone();
      state.best_fitness = f[best];
      state.best_correlation = correlation;
      state.best_generation = g;
    }
    if (callbacks.on_generation) {
      const at::Tensor fitness_values = doubles(f);
      callbacks.on_generation(
          {g, f[best], correlation, state.mean_fitness_history.back(), improved, &fitness_values});
    }
    if (bar.total() > 0) {
      if (options.progress() && progress_enabled())
        bar.set_status(
            fmt::format("best {:.4g} corr {:.3f}", state.best_fitness, state.best_correlation));
      bar.advance();
    }
    if (const auto threshold = options.stop_threshold()) {
      const bool on_fitness = options.stop_on() == "fitness";
      const double value = on_fitness ? sign * state.best_fitness : state.best_correlation;
      const double limit = on_fitness ? sign * *threshold : *threshold;
      state.stopped_early = value >= limit;
    }
    if (state.stopped_early) break;
    // Always breed, also after the last generation: a checkpoint then holds the next
    // population, so a finished run can be extended with more generations.
    optimizer->next_generation(doubles(score));
    const bool interrupted = interrupt_requested();
    if (interrupted || ((g + 1) % options.checkpoint_every() == 0 && g + 1 < options.generations()))
      save(false);
    if (interrupted) {
      bar.finish();
      throw_if_interrupted("genetic algorithm");
    }
  }
  bar.finish();
  save(true);
  model.install_best();

  GeneticResult result;
  result.best_genome = at::tensor(at::ArrayRef<float>(state.best_genome), at::kFloat);
  result.best_output = state.has_best ? state.best_output : at::Tensor();
  result.targets = target;
  result.best_fitness = state.best_fitness;
  result.best_correlation = state.best_correlation;
  result.best_generation = state.best_generation;
  result.generations_run = static_cast<std::int64_t>(state.fitness_history.size());
  result.stopped_early = state.stopped_early;
  result.seed = options.seed();
  result.criterion = fitness.name;
  result.fitness_history = doubles(state.fitness_history);
  result.correlation_history = doubles(state.correlation_history);
  result.mean_fitness_history = doubles(state.mean_fitness_history);
  result.genome_history = at::tensor(at::ArrayRef<float>(state.genome_history), at::kFloat)
                              .view({result.generations_run, genes});
  result.seconds =
      std::chrono::duration<double>(std::chrono::steady_clock::now() - started).count();
  if (std::isnan(result.best_fitness))
    log::warn("genetic algorithm: every genome's {} was NaN", fitness.name);
  log::debug("genetic algorithm: best {} {:.4g} (correlation {:.4f}) at generation {} of {}",
             fitness.name, result.best_fitness, result.best_correlation, result.best_generation,
             result.generations_run);
  return result;
}

}  // namespace brains::algorithms
