// KmcSimulation: rejection-free kinetic Monte Carlo (BKL / n-fold way) of the hopping model.
// Each step draws a hop with probability Γ/ΣΓ and advances the clock by the mean holding time
// 1/ΣΓ of the state (the expectation of the exponential waiting time: the same averages,
// less noise). It owns its state (the occupation) and its random generator; the model is
// shared and immutable, so many simulations can run on one model in parallel.
//
// Currents use the variance-reduced estimator: the time-weighted expected flux into each
// electrode, Σ_states (Σ rates into k − Σ rates out of k) · holding time / total time, which
// needs no hop to actually reach the electrode. The counted estimator (net hops into k over
// time) is reported beside it. Standard errors come from independent blocks of hops.
// Units: currents in nA (model flux × e·ν0), times in seconds.
//
// The occupation carries over from one simulate() call to the next (quasi-static sampling
// of a waveform); set_voltages() alone never resets it.
//
// Speed (bench_kmc BM_Hops, one core of an AVX-512 machine, medians of 3): about 4e6 hops/s
// on the small preset and 1.4e6 on the default one (goals 1e7 and 3e6). A hop costs one pass
// over every allowed hop of the state — all rates change with every hop, and the holding-time
// estimator needs their exact total — so the cost grows with (holes or empties) × partners.
//
// Raises: ArgumentError (vector sizes, negative hop counts), Error (no hop possible),
//         ConfigError from KmcOptions::from_config / validate.
#pragma once

#include <cstdint>
#include <functional>
#include <memory>
#include <string>
#include <vector>

#include "brains/core/config.h"
#include "brains/physics/model.h"
#include "brains/physics/random.h"

namespace brains::physics {

namespace detail {
class HopRates;
}

struct KmcOptions {
  // Hops per sample and warm-up hops at the start of a waveform (or an independent run).
  // Relative noise of one sample (std at fixed voltages ÷ output range over random controls
  // in [−1, 1] V, bench_kmc): default device 15% at 1000 hops, 8% at 3000, 5% at 10000,
  // 2.7% at 30000 (noise ∝ 1/√hops); the small device is ~7× quieter. The default gives
  // ~5% on the default device, like a noisy real setup.
  std::int64_t hops_per_sample = 10000;
  std::int64_t warmup_hops = 20000;
  // Independent blocks per simulate() call for the standard errors (1: no errors).
  int blocks = 10;
  // Factors are recomputed from the energies every this many hops (rounding drift).
  std::int64_t refresh_interval = 4096;
  // Extra observables (cost: a (N+P)² counter matrix; O(1) per hop for occupation).
  bool record_traffic = false;
  bool record_occupation = false;
  // Testing: force exact arithmetic (std::exp per pair) instead of the factor updates.
  bool exact_arithmetic = false;

  // Keys: hops_per_sample, warmup_hops, blocks, refresh_interval, record_traffic,
  // record_occupation, exact_arithmetic. Unknown keys are warned about.
  static KmcOptions from_config(const Config& config);
  void validate(const std::string& key_prefix = "") const;
};

struct Measurement {
  std::vector<double> current_na;          // per electrode, expected-flux estimator
  std::vector<double> current_error_na;    // standard error over blocks (0 with < 2 blocks)
  std::vector<double> counted_current_na;  // net hops into each electrode / time
  std::vector<std::int64_t> net_hops;      // net hops into each electrode
  double time_s = 0;                       // simulated time
  std::int64_t hops = 0;
  std::vector<double> mean_occupation;   // per acceptor, time-weighted (record_occupation)
  std::vector<std::int64_t> traffic;     // (N+P)², [from * (N+P) + to] (record_traffic)
};

// One hop as returned by step(): endpoints as in HoppingModel, and the mean holding time of
// the state it left (units of 1/ν0).
struct HopRecord {
  int from = 0;
  int to = 0;
  double holding_time = 0;
};

class KmcSimulation {
 public:
  // The generator is Rng(seed, "physics.kmc", stream); the initial occupation (N_A − N_D holes
  // at random acceptors) comes from Rng(seed, "physics.kmc.occupation", stream). Voltages
  // start at 0 V.
  KmcSimulation(std::shared_ptr<const HoppingModel> model, std::uint64_t seed,
                std::uint64_t stream = 0, KmcOptions options = {});
  ~KmcSimulation();
  KmcSimulation(KmcSimulation&&) noexcept;
  KmcSimulation& operator=(KmcSimulation&&) noexcept;
  KmcSimulation(const KmcSimulation&) = delete;
  KmcSimulation& operator=(const KmcSimulation&) = delete;

  const HoppingModel& model() const noexcept { return *model_; }
  const KmcOptions& options() const noexcept { return options_; }

  // One voltage per electrode (gate-only ones included), in volts.
  void set_voltages(const std::vector<double>& voltages_v);
  const std::vector<double>& voltages() const noexcept { return voltages_; }
  void set_occupation(const Occupation& occupation);
  Occupation occupation() const;

  // One BKL event: the hop is applied and returned with the holding time of the state it left.
  HopRecord step();
  // `warmup_hops` unmeasured hops, then `hops` measured hops in options().blocks blocks, at
  // these voltages, from the current occupation.
  Measurement simulate(const std::vector<double>& voltages_v, std::int64_t hops,
                       std::int64_t warmup_hops = 0);

  // The current state, from the solver's own tables.
  double total_rate();                           // ΣΓ (units of ν0)
  std::vector<HoppingModel::Event> events();     // every allowed hop and its rate
  std::vector<double> electrode_flux();          // expected net flux into each electrode (ν0)
  std::vector<double> site_energies_kt() const;  // recomputed
  bool uses_fast_arithmetic() const;
  std::int64_t hops_done() const noexcept { return hops_done_; }

 private:
  void maybe_refresh();

  std::shared_ptr<const HoppingModel> model_;
  KmcOptions options_;
  Rng rng_;
  std::unique_ptr<detail::HopRates> rates_;
  std::vector<double> voltages_;
  std::int64_t hops_done_ = 0;
  std::int64_t since_refresh_ = 0;
};

// Runs `tasks` jobs on `threads` threads (0: hardware concurrency), each job seeing only its
// own index; the first exception is re-thrown after all threads stop.
void run_parallel(std::int64_t tasks, int threads, const std::function<void(std::int64_t)>& job);

// Independent simulations, one per voltage vector: task t starts fresh (stream t of `seed`),
// warms up for options.warmup_hops and measures `hops` hops. Bit-identical for any thread
// count.
std::vector<Measurement> simulate_independent(std::shared_ptr<const HoppingModel> model,
                                              const std::vector<std::vector<double>>& voltages_v,
                                              std::int64_t hops, std::uint64_t seed, int threads,
                                              const KmcOptions& options = {});

// A quasi-static waveform (one voltage vector per sample): each sample runs
// options.hops_per_sample hops and carries the occupation to the next. The waveform is cut
// into chunks of `chunk_length` samples, each simulated from a fresh state (stream = chunk
// index) with options.warmup_hops of warm-up at its first sample, so chunks run in parallel
// and the result does not depend on `threads`. One Measurement per sample.
std::vector<Measurement> simulate_waveform(std::shared_ptr<const HoppingModel> model,
                                           const std::vector<std::vector<double>>& waveform_v,
                                           std::int64_t chunk_length, std::uint64_t seed, int threads,
                                           const KmcOptions& options = {});

}  // namespace brains::physics
