// Genetic algorithm: the operators one by one, the training loop on a trained fixture
// surrogate (XOR found, determinism, NaN handling, multi-node evaluation, penalties),
// checkpoint and resume, run outputs and bad input.
#include <ATen/ATen.h>
#include <ATen/CPUGeneratorImpl.h>
#include <fmt/format.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <nlohmann/json.hpp>
#include <numeric>

#include "brains/algorithms/accuracy.h"
#include "brains/algorithms/algorithm.h"
#include "brains/algorithms/criteria.h"
#include "brains/algorithms/genetic.h"
#include "brains/algorithms/genetic_checkpoint.h"
#include "brains/algorithms/run_outputs.h"
#include "brains/core/error.h"
#include "brains/core/interrupt.h"
#include "brains/io/npz.h"
#include "brains/modules/dnpu.h"
#include "support/fixture_surrogate.h"
#include "support/temp_dir.h"

namespace brains::algorithms {
namespace {

using modules::DNPU;
using modules::DNPUOptions;
using ::testing::HasSubstr;

at::Tensor wide_ranges(std::int64_t genes) {
  return at::tensor({-10.0f, 10.0f}).repeat({genes, 1});
}

at::Tensor xor_targets() { return at::tensor({0.0f, 1.0f, 1.0f, 0.0f}).view({4, 1}); }

DNPU xor_dnpu(std::uint64_t seed = 1) {
  DNPU dnpu(testing::fixture_processor(), DNPUOptions({{3, 4}}).seed(seed));
  dnpu->add_input_transform({-1.0, 1.0});
  return dnpu;
}

GeneticOptions quiet_options() { return GeneticOptions().progress(false); }

// ---------------------------------------------------------------------------------------
// The fixture itself: the network reproduces the known function it was trained on.

TEST(FixtureSurrogate, FitsTheKnownFunction) {
  auto generator = at::make_generator<at::CPUGeneratorImpl>(123);
  const at::Tensor v = testing::fixture_voltages(1000, generator);
  const at::Tensor expected = testing::fixture_function()(v) * testing::kFixtureAmplification;
  at::NoGradGuard no_grad;
  const at::Tensor actual = testing::fixture_processor()->forward(v);
  const double rms_error = (actual - expected).pow(2).mean().sqrt().item<double>();
  EXPECT_LT(rms_error, 0.15 * expected.std().item<double>())
      << "rms error " << rms_error << " of std " << expected.std().item<double>();
}

// ---------------------------------------------------------------------------------------
// Options

TEST(GeneticOptions, FromConfigReadsBrainsPyKeys) {
  const Config configs = Config::parse(
      "optimizer: genetic\ncriterion: corrsig_fit\nepochs: 30\npartition: [3, 9]\n"
      "stop_threshold: 0.9\nseed: 5\ngenerange: [[-1, 0.5], [-1, 0.5], [-1, 0.5], [-0.5, 0.2], "
      "[-0.5, 0.2]]\n",
      "algorithm");
  const GeneticOptions options = GeneticOptions::from_config(configs);
  EXPECT_EQ(options.partition(), (std::vector<std::int64_t>{3, 9}));
  EXPECT_EQ(options.population_size(), 12);
  EXPECT_EQ(options.generations(), 30);
  EXPECT_EQ(options.stop_threshold(), 0.9);
  EXPECT_EQ(options.seed(), 5u);
  ASSERT_TRUE(options.gene_ranges().has_value());
  EXPECT_EQ(options.gene_ranges()->sizes(), (at::IntArrayRef{5, 2}));
  EXPECT_FLOAT_EQ((*options.gene_ranges())[3][1].item<float>(), 0.2f);
}

TEST(GeneticOptions, BadPartitionIsAConfigErrorWithTheKeyPath) {
  for (const std::string partition : {"[4]", "[0, 22]", "[4, -1]"}) {
    try {
      GeneticOptions::from_config(Config::parse("partition: " + partition + "\n", "x"));
      FAIL() << partition;
    } catch (const ConfigError& error) {
      EXPECT_EQ(error.key_path(), "partition") << error.what();
      EXPECT_THAT(error.what(), HasSubstr("elites"));
    }
  }
  EXPECT_THROW(GeneticOptions::from_config(Config::parse("epochs: 0\n")), ConfigError);
  EXPECT_THROW(quiet_options().partition({4, 0}).validate(), ArgumentError);
}

TEST(GeneticOptimizer, PopulationThatDoesNotFitThePartitionIsRejected) {
  GeneticOptimizer fresh(wide_ranges(5), quiet_options());
  try {
    GeneticOptimizer(wide_ranges(5), quiet_options(), at::zeros({30, 5}), 0, fresh.rng_state());
    FAIL();
  } catch (const ArgumentError& error) {
    EXPECT_THAT(error.what(), HasSubstr("30 genomes, partition [4, 22] needs 26"));
  }
  EXPECT_THROW(
      GeneticOptimizer(wide_ranges(5), quiet_options(), at::zeros({26, 4}), 0, fresh.rng_state()),
      ArgumentError);
  EXPECT_THROW(GeneticOptimizer(at::tensor({1.0f, -1.0f}).view({1, 2}), quiet_options()),
               ArgumentError);
}

// ---------------------------------------------------------------------------------------
// Operators

TEST(GeneticOptimizer, InitialPopulationIsUniformInTheRangesAndSeeded) {
  const at::Tensor ranges = at::tensor({-1.2f, 0.6f, -0.7f, 0.3f}).view({2, 2});
  GeneticOptimizer a(ranges, quiet_options().partition({10, 990}).seed(3));
  GeneticOptimizer b(ranges, quiet_options().partition({10, 990}).seed(3));
  GeneticOptimizer c(ranges, quiet_options().partition({10, 990}).seed(4));
  const at::Tensor p = a.population();
  EXPECT_EQ(p.sizes(), (at::IntArrayRef{1000, 2}));
  EXPECT_TRUE(at::equal(p, b.population()));
  EXPECT_FALSE(at::equal(p, c.population()));
  EXPECT_TRUE((p >= ranges.select(1, 0)).all().item<bool>());
  EXPECT_TRUE((p <= ranges.select(1, 1)).all().item<bool>());
  EXPECT_NEAR(p.select(1, 0).mean().item<double>(), -0.3, 0.05);  // mid-range
  EXPECT_NEAR(p.select(1, 1).mean().item<double>(), -0.2, 0.03);
}

TEST(GeneticOptimizer, RankOrderPutsNaNLast) {
  const double nan = std::numeric_limits<double>::quiet_NaN();
  const double inf = std::numeric_limits<double>::infinity();
  EXPECT_EQ(GeneticOptimizer::rank_order({nan, 1.0, nan, 0.5, -inf, 2.0}),
            (std::vector<std::int64_t>{5, 1, 3, 4, 0, 2}));
  EXPECT_EQ(GeneticOptimizer::rank_order({0.3, 0.3, 0.1}), (std::vector<std::int64_t>{0, 1, 2}));
}

TEST(GeneticOptimizer, LinearRankProbabilities) {
  GeneticOptimizer optimizer(wide_ranges(3), quiet_options());
  const auto p = optimizer.rank_probabilities();
  ASSERT_EQ(p.size(), 26u);
  EXPECT_NEAR(p.front(), 1.5 / 26, 1e-12);  // brains-py: 0.05769 for the best
  EXPECT_NEAR(p.back(), 0.5 / 26, 1e-12);   // 0.01923 for the worst
  EXPECT_NEAR(std::accumulate(p.begin(), p.end(), 0.0), 1.0, 1e-12);
  for (std::size_t r = 1; r < p.size(); ++r) EXPECT_NEAR(p[r - 1] - p[r], 1.0 / (25 * 26), 1e-12);
}

TEST(GeneticOptimizer, UniversalSamplingGivesEveryRankItsExpectedCount) {
  GeneticOptimizer optimizer(wide_ranges(3), quiet_options().seed(11));
  const auto p = optimizer.rank_probabilities();
  for (int trial = 0; trial < 200; ++trial) {
    const auto parents = optimizer.select_parents();
    ASSERT_EQ(parents.size(), 44u);  // always 2·partition[1] (upstream could fall short)
    std::vector<int> counts(26, 0);
    for (const auto index : parents) ++counts.at(index);
    // SUS: each rank is chosen floor or ceil of its expected count, never more or fewer.
    for (std::size_t r = 0; r < 26; ++r) {
      EXPECT_GE(counts[r], std::floor(44 * p[r] - 1e-9)) << r;
      EXPECT_LE(counts[r], std::ceil(44 * p[r] + 1e-9)) << r;
    }
  }
}

TEST(GeneticOptimizer, BlxCrossoverStaysInItsAlphaBetaInterval) {
  GeneticOptimizer optimizer(wide_ranges(3), quiet_options().alpha(0.6).beta(0.4).seed(2));
  const at::Tensor better = at::tensor({1.0f, -1.0f, 0.5f});
  const at::Tensor worse = at::tensor({0.0f, 0.0f, 0.5f});
  float low0 = 1e9, high0 = -1e9, low1 = 1e9, high1 = -1e9;
  for (int i = 0; i < 4000; ++i) {
    const at::Tensor child = optimizer.crossover(better, worse);
    const float c0 = child[0].item<float>(), c1 = child[1].item<float>();
    // Gene 0: better above worse, so the interval reaches α·d above and β·d below.
    EXPECT_GE(c0, -0.4f - 1e-6f);
    EXPECT_LE(c0, 1.6f + 1e-6f);
    // Gene 1: better below worse: α·d below, β·d above.
    EXPECT_GE(c1, -1.6f - 1e-6f);
    EXPECT_LE(c1, 0.4f + 1e-6f);
    EXPECT_EQ(child[2].item<float>(), 0.5f);  // equal parents: a copy
    low0 = std::min(low0, c0), high0 = std::max(high0, c0);
    low1 = std::min(low1, c1), high1 = std::max(high1, c1);
  }
  EXPECT_NEAR(low0, -0.4f, 0.01f);
  EXPECT_NEAR(high0, 1.6f, 0.01f);
  EXPECT_NEAR(low1, -1.6f, 0.01f);
  EXPECT_NEAR(high1, 0.4f, 0.01f);
  // Clipped to the gene ranges.
  GeneticOptimizer narrow(at::tensor({-1.0f, 1.0f}).view({1, 2}), quiet_options().seed(2));
  for (int i = 0; i < 500; ++i) {
    const float c = narrow.crossover(at::tensor({1.0f}), at::tensor({-1.0f}))[0].item<float>();
    EXPECT_GE(c, -1.0f);
    EXPECT_LE(c, 1.0f);
  }
}

TEST(GeneticOptimizer, MutationRateDecaysAsBrainsPy) {
  GeneticOptimizer optimizer(wide_ranges(2), quiet_options().generations(100));
  EXPECT_NEAR(optimizer.mutation_rate(), 0.3125, 1e-12);
  at::Tensor fitness = at::arange(26, at::kDouble);
  for (int g = 0; g < 99; ++g) optimizer.next_generation(fitness);
  EXPECT_NEAR(optimizer.mutation_rate(), 0.625 / 7, 1e-12);
  GeneticOptimizer one(wide_ranges(2), quiet_options().generations(1));  // upstream divided by 0
  EXPECT_NEAR(one.mutation_rate(), 0.3125, 1e-12);
}

TEST(GeneticOptimizer, MutationStaysInRangeSparesElitesAndHitsTheRate) {
  const at::Tensor ranges = at::tensor({-1.2f, 0.6f}).repeat({5, 1});
  GeneticOptimizer optimizer(ranges, quiet_options().partition({4, 400}).seed(9));
  at::Tensor population = optimizer.population().clone();
  population.narrow(0, 0, 100).fill_(0.6f);  // genes at the upper edge stay valid
  const at::Tensor before = population.clone();
  optimizer.mutate(population);
  EXPECT_TRUE(at::equal(population.narrow(0, 0, 4), before.narrow(0, 0, 4)));
  EXPECT_TRUE((population >= -1.2f).all().item<bool>());
  EXPECT_TRUE((population <= 0.6f).all().item<bool>());
  const double changed = (population != before).sum().item<double>() / (400.0 * 5);
  EXPECT_NEAR(changed, 0.3125, 0.04);
}

TEST(GeneticOptimizer, DuplicatesAreRedrawnAndTheFirstCopyKept) {
  GeneticOptimizer optimizer(wide_ranges(3), quiet_options().seed(4));
  at::Tensor population = optimizer.population().clone();
  population[5].copy_(population[0]);  // copies of an elite
  population[9].copy_(population[0]);
  population[20].copy_(population[12]);
  const at::Tensor elite = population[0].clone();
  EXPECT_EQ(optimizer.remove_duplicates(population), 3);
  EXPECT_TRUE(at::equal(population[0], elite));
  EXPECT_EQ(std::get<0>(at::unique_dim(population, 0)).size(0), 26);
  EXPECT_TRUE((population.abs() <= 10).all().item<bool>());
}

TEST(GeneticOptimizer, NextGenerationKeepsTheElitesInRankOrder) {
  GeneticOptimizer optimizer(wide_ranges(4), quiet_options().seed(8));
  const at::Tensor before = optimizer.population().clone();
  at::Tensor fitness = at::rand({26}, at::kDouble);
  fitness[7] = std::numeric_limits<double>::quiet_NaN();
  fitness[3] = 5.0;  // best
  const auto order = GeneticOptimizer::rank_order(
      std::vector<double>(fitness.data_ptr<double>(), fitness.data_ptr<double>() + 26));
  const at::Tensor& after = optimizer.next_generation(fitness);
  EXPECT_EQ(optimizer.generation(), 1);
  for (int r = 0; r < 4; ++r) EXPECT_TRUE(at::equal(after[r], before[order[r]])) << r;
  EXPECT_EQ(std::get<0>(at::unique_dim(after, 0)).size(0), 26);
}

// ---------------------------------------------------------------------------------------
// Evaluation and training

TEST(Genetic, PopulationEvaluationEqualsPerGenomeForwardOnMultiNodeModels) {
  DNPU dnpu(testing::fixture_processor(), DNPUOptions({{3, 4}, {1, 2}, {0, 6}}).seed(2));
  dnpu->add_input_transform({-1.0, 1.0});
  const at::Tensor inputs = at::rand({9, 6}) * 2 - 1;
  GeneticOptimizer optimizer(gene_ranges_for(*dnpu, quiet_options()),
                             quiet_options().partition({2, 5}));
  const at::Tensor population = optimizer.population();
  ASSERT_EQ(population.size(1), 15);  // 3 nodes × 5 controls
  const at::Tensor outputs = evaluate_population(*dnpu, inputs, population);
  ASSERT_EQ(outputs.sizes(), (at::IntArrayRef{7, 9, 3}));
  at::NoGradGuard no_grad;
  for (std::int64_t g = 0; g < 7; ++g) {
    dnpu->set_control_voltages(population[g].view({3, 5}));
    EXPECT_TRUE(at::allclose(outputs[g], dnpu->forward(inputs), 1e-5, 1e-4)) << g;
  }
}

TEST(Genetic, FindsXorOnTheFixtureSurrogate) {
  DNPU dnpu = xor_dnpu();
  const at::Tensor inputs = testing::boolean_square();
  const GeneticResult result = train_genetic(*dnpu, inputs, xor_targets(), criterion("corrsig_fit"),
                                             quiet_options().generations(100).seed(1));
  at::NoGradGuard no_grad;
  const at::Tensor output = dnpu->forward(inputs);
  EXPECT_EQ(optimal_threshold_accuracy(output, xor_targets()).accuracy_percent, 100.0)
      << output << "\nfitness " << result.best_fitness;
  EXPECT_GT(result.best_correlation, 0.9);
  // The model holds the best genome, and its output is the recorded best output.
  EXPECT_TRUE(at::equal(dnpu->control_voltages().view({-1}), result.best_genome));
  EXPECT_TRUE(at::allclose(output, result.best_output, 1e-5, 1e-4));
  EXPECT_EQ(result.fitness_history.numel(), result.generations_run);
  EXPECT_EQ(result.genome_history.sizes(), (at::IntArrayRef{result.generations_run, 5}));
  // The best of the run never gets worse: elites survive (re-evaluated at another row of the
  // batch, a genome's output may move by rounding).
  const at::Tensor running_best = std::get<0>(at::cummax(result.fitness_history, 0));
  EXPECT_LE((running_best - result.fitness_history).max().item<double>(), 1e-5);
}

TEST(Genetic, KeptPlateausGiveThePlateauOneSearch) {
  // brainspy-tasks keeps every plateau sample (average_plateaus = false): the criterion sees
  // each point P times, the targets are repeated to match, and without noise nothing changes.
  const auto options = quiet_options().generations(10).seed(5);
  DNPU single = xor_dnpu();
  const GeneticResult a = train_genetic(*single, testing::boolean_square(), xor_targets(),
                                        criterion("corrsig_fit"), options);
  const Config configs =
      Config::parse("processor_type: simulation\nwaveform: {plateau_length: 3, slope_length: 2}\n");
  processors::Processor processor(configs, testing::fixture_info(), testing::fixture_state_dict(),
                                  /*average_plateaus=*/false);
  DNPU plateaus(processor, DNPUOptions({{3, 4}}).seed(1));
  plateaus->add_input_transform({-1.0, 1.0});
  const GeneticResult b = train_genetic(*plateaus, testing::boolean_square(), xor_targets(),
                                        criterion("corrsig_fit"), options);
  EXPECT_EQ(b.best_output.sizes(), (at::IntArrayRef{12, 1}));
  EXPECT_EQ(b.targets.sizes(), (at::IntArrayRef{12, 1}));
  EXPECT_TRUE(at::allclose(a.fitness_history, b.fitness_history, 1e-5, 1e-6));
  EXPECT_TRUE(at::equal(a.best_genome, b.best_genome));
}

TEST(Genetic, IsDeterministicForASeed) {
  const auto run = [](std::uint64_t seed) {
    DNPU dnpu = xor_dnpu();
    return train_genetic(*dnpu, testing::boolean_square(), xor_targets(), criterion("corrsig_fit"),
                         quiet_options().generations(15).seed(seed));
  };
  const GeneticResult a = run(3), b = run(3), c = run(4);
  EXPECT_TRUE(at::equal(a.fitness_history, b.fitness_history));
  EXPECT_TRUE(at::equal(a.genome_history, b.genome_history));
  EXPECT_TRUE(at::equal(a.best_genome, b.best_genome));
  EXPECT_FALSE(at::equal(a.genome_history, c.genome_history));
}

TEST(Genetic, NaNFitnessNeverRanksBest) {
  // The upper half of the genomes by mean output get NaN; upstream's argmax picked them.
  Criterion half_nan{"half_nan", true, false,
                     [](const at::Tensor& output, const at::Tensor&) {
                       const at::Tensor mean = output.mean(0).to(at::kDouble);
                       return at::where(mean > mean.median(), at::full_like(mean, NAN), mean);
                     },
                     -1.0};
  DNPU dnpu = xor_dnpu();
  std::vector<double> best_per_generation;
  GeneticCallbacks callbacks;
  callbacks.on_generation = [&](const GenerationLog& log) {
    const at::Tensor f = *log.fitness;
    const at::Tensor finite = f.masked_select(~at::isnan(f));
    ASSERT_GT(finite.numel(), 0);
    EXPECT_EQ(log.best_fitness, finite.max().item<double>());
    best_per_generation.push_back(log.best_fitness);
  };
  const GeneticResult result =
      train_genetic(*dnpu, testing::boolean_square(), xor_targets(), half_nan,
                    quiet_options().generations(8).penalize_clipped(false), callbacks);
  EXPECT_EQ(best_per_generation.size(), 8u);
  EXPECT_TRUE(std::isfinite(result.best_fitness));
  EXPECT_TRUE(at::isfinite(result.fitness_history).all().item<bool>());
  // A criterion that is NaN everywhere still ends with a genome in the model.
  Criterion all_nan{"all_nan", true, false,
                    [](const at::Tensor& output, const at::Tensor&) {
                      return at::full({output.size(1)}, NAN, at::kDouble);
                    },
                    -1.0};
  const GeneticResult nan_result = train_genetic(*dnpu, testing::boolean_square(), xor_targets(),
                                                 all_nan, quiet_options().generations(3));
  EXPECT_TRUE(std::isnan(nan_result.best_fitness));
  EXPECT_TRUE(at::equal(dnpu->control_voltages().view({-1}), nan_result.best_genome));
}

TEST(Genetic, ClippedOrConstantOutputsGetTheDefaultFitness) {
  const GeneticOptions options = quiet_options().generations(1).seed(6);
  // A clipping value inside the output range, so that about half the genomes touch it.
  DNPU free = xor_dnpu();
  const at::Tensor population =
      GeneticOptimizer(gene_ranges_for(*free, options), options).population();
  const double clip = evaluate_population(*free, testing::boolean_square(), population)
                          .abs()
                          .amax({1, 2})
                          .median()
                          .item<double>();
  DNPU dnpu(testing::fixture_processor(1, 0, fmt::format("output_clipping: [{}, {}]", -clip, clip)),
            DNPUOptions({{3, 4}}).seed(1));
  dnpu->add_input_transform({-1.0, 1.0});
  at::Tensor fitness;
  GeneticCallbacks callbacks;
  callbacks.on_generation = [&](const GenerationLog& log) { fitness = log.fitness->clone(); };
  train_genetic(*dnpu, testing::boolean_square(), xor_targets(), criterion("corr_fit"), options,
                callbacks);
  // The same seed gave the same first population.
  const at::Tensor outputs =
      evaluate_population(*dnpu, testing::boolean_square(), population).view({26, 4});
  const at::Tensor clipped = ((outputs <= -clip) | (outputs >= clip)).any(1);
  ASSERT_GT(clipped.sum().item<int>(), 0);
  ASSERT_LT(clipped.sum().item<int>(), 26);
  for (int g = 0; g < 26; ++g)
    if (clipped[g].item<bool>())
      EXPECT_EQ(fitness[g].item<double>(), -1.0) << g;
    else
      EXPECT_GT(fitness[g].item<double>(), -1.0) << g;
}

TEST(Genetic, StopThresholdEndsTheRunEarly) {
  DNPU dnpu = xor_dnpu();
  const GeneticResult result =
      train_genetic(*dnpu, testing::boolean_square(), xor_targets(), criterion("corr_fit"),
                    quiet_options().generations(100).stop_threshold(0.5).seed(2));
  EXPECT_TRUE(result.stopped_early);
  EXPECT_LT(result.generations_run, 100);
  EXPECT_GE(result.best_fitness, 0.5);
  EXPECT_EQ(result.best_generation, result.generations_run - 1);
}

TEST(Genetic, CheckpointAndResumeGiveTheUninterruptedResult) {
  testing::TempDir dir;
  const GeneticOptions options = quiet_options().generations(24).seed(12);
  DNPU reference_dnpu = xor_dnpu();
  const GeneticResult reference = train_genetic(*reference_dnpu, testing::boolean_square(),
                                                xor_targets(), criterion("corrsig_fit"), options);

  // Interrupted (as by Ctrl-C) after generation 10: a checkpoint is written, then it throws.
  install_interrupt_handlers();
  DNPU dnpu = xor_dnpu();
  GeneticCallbacks callbacks;
  callbacks.on_generation = [](const GenerationLog& log) {
    if (log.generation == 10) std::raise(SIGINT);
  };
  EXPECT_THROW(
      train_genetic(*dnpu, testing::boolean_square(), xor_targets(), criterion("corrsig_fit"),
                    GeneticOptions(options).checkpoint_dir(dir.path()).checkpoint_every(100),
                    callbacks),
      InterruptedError);
  clear_interrupt();
  const GeneticCheckpoint checkpoint = load_genetic_checkpoint(dir.path());
  EXPECT_EQ(checkpoint.generation, 11);
  EXPECT_FALSE(checkpoint.finished);
  EXPECT_EQ(checkpoint.population.sizes(), (at::IntArrayRef{26, 5}));
  // Even interrupted, the model holds the best genome so far.
  EXPECT_TRUE(at::equal(dnpu->control_voltages().view({-1}), checkpoint.best_genome));

  DNPU resumed_dnpu = xor_dnpu(99);  // different initial voltages: they must not matter
  const GeneticResult resumed =
      train_genetic(*resumed_dnpu, testing::boolean_square(), xor_targets(),
                    criterion("corrsig_fit"), GeneticOptions(options).resume_from(dir.path()));
  EXPECT_TRUE(at::equal(resumed.fitness_history, reference.fitness_history));
  EXPECT_TRUE(at::equal(resumed.correlation_history, reference.correlation_history));
  EXPECT_TRUE(at::equal(resumed.genome_history, reference.genome_history));
  EXPECT_TRUE(at::equal(resumed.best_genome, reference.best_genome));
  EXPECT_EQ(resumed.best_generation, reference.best_generation);
  EXPECT_TRUE(at::equal(resumed_dnpu->control_voltages(), reference_dnpu->control_voltages()));

  // A checkpoint of another partition does not fit.
  try {
    train_genetic(*resumed_dnpu, testing::boolean_square(), xor_targets(), criterion("corrsig_fit"),
                  GeneticOptions(options).partition({4, 20}).resume_from(dir.path()));
    FAIL();
  } catch (const ArgumentError& error) {
    EXPECT_THAT(error.what(), HasSubstr("partition [4, 22], not [4, 20]"));
  }
}

TEST(Genetic, FinishedCheckpointHoldsTheWholeRun) {
  testing::TempDir dir;
  DNPU dnpu = xor_dnpu();
  const GeneticResult result =
      train_genetic(*dnpu, testing::boolean_square(), xor_targets(), criterion("corrsig_fit"),
                    quiet_options().generations(6).checkpoint_dir(dir.path()).checkpoint_every(2));
  const GeneticCheckpoint checkpoint = load_genetic_checkpoint(dir.path());
  EXPECT_TRUE(checkpoint.finished);
  EXPECT_EQ(checkpoint.generation, 6);
  EXPECT_TRUE(at::equal(checkpoint.fitness_history, result.fitness_history));
  EXPECT_EQ(checkpoint.best_fitness, result.best_fitness);
  std::ifstream json(dir / "checkpoint.json");
  const auto parsed = nlohmann::json::parse(json);
  EXPECT_EQ(parsed["algorithm"], "genetic");
  EXPECT_EQ(parsed["partition"], (std::vector<int>{4, 22}));
  EXPECT_THROW(load_genetic_checkpoint(dir / "missing"), FormatError);
}

TEST(Genetic, RunOutputsAreWrittenAsPlainFiles) {
  testing::TempDir dir;
  DNPU dnpu = xor_dnpu();
  const GeneticResult result =
      train_genetic(*dnpu, testing::boolean_square(), xor_targets(), criterion("corrsig_fit"),
                    quiet_options().generations(5));
  write_run_outputs(dir.path(), genetic_run_outputs(result, Config::parse("epochs: 5\n")));
  for (const char* name : {"config.yaml", "summary.json", "results.npz", "fitness_history.csv",
                           "output_vs_target.csv"})
    EXPECT_TRUE(std::filesystem::exists(dir / name)) << name;
  const io::NpzFile npz = io::read_npz(dir / "results.npz");
  EXPECT_TRUE(at::equal(npz.tensor("fitness_history"), result.fitness_history));
  EXPECT_EQ(npz.tensor("best_output").sizes(), (at::IntArrayRef{4, 1}));
  std::ifstream json(dir / "summary.json");
  const auto summary = nlohmann::json::parse(json);
  EXPECT_EQ(summary["algorithm"], "genetic");
  EXPECT_EQ(summary["criterion"], "corrsig_fit");
  EXPECT_EQ(summary["generations_run"], 5);
}

TEST(Genetic, BadInputIsRejected) {
  DNPU dnpu = xor_dnpu();
  const Criterion& fitness = criterion("corrsig_fit");
  const auto options = quiet_options().generations(2);
  EXPECT_THROW(train_genetic(*dnpu, at::empty({0, 2}), at::empty({0, 1}), fitness, options),
               ArgumentError);
  EXPECT_THROW(train_genetic(*dnpu, testing::boolean_square(), at::zeros({3, 1}), fitness, options),
               ArgumentError);
  EXPECT_THROW(train_genetic(*dnpu, at::zeros({4, 3}), xor_targets(), fitness, options),
               ArgumentError);
  EXPECT_THROW(train_genetic(*dnpu, testing::boolean_square(), xor_targets(), fitness,
                             GeneticOptions(options).partition({4, 22, 1})),
               ArgumentError);
  EXPECT_THROW(train_genetic(*dnpu, testing::boolean_square(), xor_targets(), fitness,
                             GeneticOptions(options).gene_ranges(at::zeros({3, 2}))),
               ArgumentError);
  try {
    check_algorithm_name("genetik");
    FAIL();
  } catch (const ConfigError& error) {
    EXPECT_THAT(error.what(), HasSubstr("unknown algorithm 'genetik'"));
    EXPECT_THAT(error.what(), HasSubstr("valid: genetic, gradient"));
  }
  EXPECT_NO_THROW(check_algorithm_name("genetic"));
  EXPECT_NO_THROW(check_algorithm_name("gradient"));
}

TEST(Genetic, GeneRangesFromConfigMapOntoTheControls) {
  DNPU dnpu(testing::fixture_processor(), DNPUOptions({{3, 4}, {0, 1}}));
  // One row per activation electrode: each node takes its controls' rows.
  const at::Tensor per_electrode = at::arange(14, at::kFloat).view({7, 2}) * 0.01f;
  const at::Tensor mapped = gene_ranges_for(*dnpu, quiet_options().gene_ranges(per_electrode));
  EXPECT_EQ(mapped.sizes(), (at::IntArrayRef{10, 2}));
  EXPECT_TRUE(at::equal(mapped.narrow(0, 0, 5),
                        per_electrode.index_select(0, at::tensor({0, 1, 2, 5, 6}))));
  EXPECT_TRUE(at::equal(mapped.narrow(0, 5, 5),
                        per_electrode.index_select(0, at::tensor({2, 3, 4, 5, 6}))));
  // One row per control: repeated for each node.
  const at::Tensor per_control = per_electrode.narrow(0, 0, 5);
  EXPECT_TRUE(at::equal(gene_ranges_for(*dnpu, quiet_options().gene_ranges(per_control)),
                        per_control.repeat({2, 1})));
  // None: the DNPU's own control ranges.
  EXPECT_TRUE(
      at::equal(gene_ranges_for(*dnpu, quiet_options()), dnpu->control_ranges().reshape({10, 2})));
}

}  // namespace
}  // namespace brains::algorithms
