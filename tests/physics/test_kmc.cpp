// Invariants and statistics of the KMC solver (virtual-device.md "Tests that must hold" 1–5).
// Tests whose names contain "Slow" run long statistical checks and are left out of the
// default run (ctest -E Slow).
#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <cstring>
#include <map>
#include <numeric>

#include "../../src/physics/hop_rates.h"
#include "brains/physics/kmc.h"

namespace brains::physics {
namespace {

std::vector<double> random_voltages(int n, std::uint64_t seed, double scale = 1.0) {
  Rng rng(seed, "test.voltages");
  std::vector<double> v(n);
  for (double& x : v) x = scale * (2 * rng.uniform() - 1);
  return v;
}

int holes(const Occupation& o) { return std::accumulate(o.begin(), o.end(), 0); }

bool same_bits(const std::vector<double>& a, const std::vector<double>& b) {
  return a.size() == b.size() && std::memcmp(a.data(), b.data(), a.size() * sizeof(double)) == 0;
}

std::map<std::pair<int, int>, double> by_endpoints(const std::vector<HoppingModel::Event>& events) {
  std::map<std::pair<int, int>, double> out;
  for (const auto& e : events) out[{e.from, e.to}] = e.rate;
  return out;
}

// The solver's tables, after many incremental updates, hold the model's rates.
void expect_rates_match_model(KmcSimulation& simulation, double tolerance) {
  const HoppingModel& model = simulation.model();
  auto reference = model.events(simulation.occupation(), simulation.voltages());
  // Rates that underflow to 0 are not hops the solver can take.
  reference.erase(std::remove_if(reference.begin(), reference.end(), [](const auto& e) { return e.rate <= 0; }),
                  reference.end());
  const auto solver = by_endpoints(simulation.events());
  ASSERT_EQ(solver.size(), reference.size());
  double total = 0;
  for (const auto& e : reference) {
    const auto it = solver.find({e.from, e.to});
    ASSERT_NE(it, solver.end()) << e.from << " -> " << e.to;
    EXPECT_NEAR(it->second, e.rate, tolerance * e.rate);
    total += e.rate;
  }
  EXPECT_NEAR(simulation.total_rate(), total, tolerance * total);
  const auto flux = simulation.electrode_flux();
  const auto reference_flux = model.electrode_flux(simulation.occupation(), simulation.voltages());
  for (std::size_t k = 0; k < flux.size(); ++k) EXPECT_NEAR(flux[k], reference_flux[k], tolerance * total);
}

TEST(Kmc, SolverTotalRateIsTheSumOfTheModelsRates) {
  for (const char* preset : {"small", "default"}) {
    const auto model = HoppingModel::create(DeviceParameters::preset(preset));
    KmcOptions options;
    options.refresh_interval = 1000000;  // no refresh: the incremental updates alone
    KmcSimulation simulation(model, 3, 0, options);
    simulation.set_voltages(random_voltages(8, 1));
    EXPECT_TRUE(simulation.uses_fast_arithmetic());
    expect_rates_match_model(simulation, 1e-12);
    for (int h = 0; h < 20000; ++h) simulation.step();
    expect_rates_match_model(simulation, 1e-10);
    simulation.set_voltages(random_voltages(8, 2));
    for (int h = 0; h < 1000; ++h) simulation.step();
    expect_rates_match_model(simulation, 1e-10);
  }
}

TEST(Kmc, ExactArithmeticAndTheFactorUpdatesAgree) {
  // Same seed, same event order: the two arithmetic paths take the same hops.
  const auto model = HoppingModel::create(DeviceParameters::preset("small"));
  KmcOptions exact;
  exact.exact_arithmetic = true;
  KmcSimulation fast(model, 5), slow(model, 5, 0, exact);
  EXPECT_TRUE(fast.uses_fast_arithmetic());
  EXPECT_FALSE(slow.uses_fast_arithmetic());
  const auto v = random_voltages(8, 6);
  fast.set_voltages(v);
  slow.set_voltages(v);
  expect_rates_match_model(slow, 1e-12);
  for (int h = 0; h < 5000; ++h) {
    const HopRecord a = fast.step(), b = slow.step();
    ASSERT_EQ(a.from, b.from) << "hop " << h;
    ASSERT_EQ(a.to, b.to) << "hop " << h;
    ASSERT_NEAR(a.holding_time, b.holding_time, 1e-12 * a.holding_time);
  }
  expect_rates_match_model(slow, 1e-12);
}

TEST(Kmc, DenseAndBandedTablesAgree) {
  // The slot order is an implementation detail: both layouts hold the same rates.
  const auto model = HoppingModel::create(DeviceParameters::preset("default"));
  detail::HopRates dense(*model, detail::HopRates::Storage::dense);
  detail::HopRates banded(*model, detail::HopRates::Storage::banded);
  EXPECT_TRUE(dense.dense());
  EXPECT_FALSE(banded.dense());
  EXPECT_LT(banded.mean_row_length(), dense.mean_row_length());
  Rng rng(1, "test");
  Occupation o(model->acceptor_count());
  for (auto& x : o) x = rng.uniform() < 0.7;
  const auto v = random_voltages(8, 9);
  for (auto* rates : {&dense, &banded}) {
    rates->set_voltages(v);
    rates->set_occupation(o);
  }
  const double total = dense.compute();
  EXPECT_NEAR(banded.compute(), total, 1e-13 * total);
  const auto a = by_endpoints(dense.events()), b = by_endpoints(banded.events());
  ASSERT_EQ(a.size(), b.size());
  for (const auto& [key, rate] : a) EXPECT_NEAR(b.at(key), rate, 1e-13 * rate);
  for (int k = 0; k < 8; ++k) EXPECT_NEAR(dense.flux()[k], banded.flux()[k], 1e-13 * total);
}

TEST(Kmc, VeryLowTemperatureFallsBackToExactArithmetic) {
  DeviceParameters p = DeviceParameters::preset("small");
  p.temperature_k = 2;  // 1 V = 5800 kT: exp() of the factors would overflow
  KmcSimulation simulation(HoppingModel::create(p), 1);
  simulation.set_voltages(random_voltages(8, 3, 0.3));
  EXPECT_FALSE(simulation.uses_fast_arithmetic());
  for (int h = 0; h < 2000; ++h) simulation.step();
  // Energies of thousands of kT: exp(−ΔE) carries their rounding, ~1e-16 of them.
  expect_rates_match_model(simulation, 1e-9);
}

// Test 3 and conservation at every event: holes in the device plus holes taken up by the
// electrodes stay constant; every acceptor's in- and out-traffic balance.
TEST(Kmc, ChargeIsConserved) {
  const auto model = HoppingModel::create(DeviceParameters::preset("small"));
  KmcOptions options;
  options.record_traffic = true;
  options.record_occupation = true;
  options.blocks = 20;
  KmcSimulation simulation(model, 11, 0, options);
  const int n = model->acceptor_count(), m = n + 8;
  const auto v = random_voltages(8, 12, 0.5);
  const Measurement r = simulation.simulate(v, 200000, 20000);
  const Occupation after = simulation.occupation();
  // Holes before the measured hops: after the warm-up, i.e. reconstructed from the traffic.
  std::int64_t absorbed = 0;
  for (int k = 0; k < 8; ++k) absorbed += r.net_hops[k];
  std::vector<std::int64_t> inflow(m, 0), outflow(m, 0);
  for (int a = 0; a < m; ++a)
    for (int b = 0; b < m; ++b) {
      outflow[a] += r.traffic[a * m + b];
      inflow[b] += r.traffic[a * m + b];
    }
  int start_holes = 0;
  for (int i = 0; i < n; ++i) {
    const std::int64_t change = inflow[i] - outflow[i];
    ASSERT_TRUE(change == 0 || change == 1 || change == -1) << i;
    EXPECT_EQ(after[i] - change == 0 || after[i] - change == 1, true);
    start_holes += static_cast<int>(after[i] - change);
  }
  EXPECT_EQ(start_holes - holes(after), absorbed);
  for (int k = 0; k < 8; ++k) EXPECT_EQ(inflow[n + k] - outflow[n + k], r.net_hops[k]);
  // Σ_k I_k → 0 within the errors.
  double sum = 0, variance = 0;
  for (int k = 0; k < 8; ++k) {
    sum += r.current_na[k];
    variance += r.current_error_na[k] * r.current_error_na[k];
  }
  EXPECT_LT(std::abs(sum), 3 * std::sqrt(variance) + 1e-12) << sum;
  // The counted current is the net hop count over time, and agrees with the estimator.
  for (int k = 0; k < 8; ++k) {
    const double nu0 = model->parameters().attempt_frequency_hz;
    EXPECT_NEAR(r.counted_current_na[k], model->current_unit_na() * r.net_hops[k] / (r.time_s * nu0),
                1e-9 * std::abs(r.counted_current_na[k]) + 1e-15);
  }
  // Mean occupations are fractions whose sum is the mean number of holes.
  double mean_holes = 0;
  for (double x : r.mean_occupation) {
    EXPECT_GE(x, 0);
    EXPECT_LE(x, 1);
    mean_holes += x;
  }
  EXPECT_GT(mean_holes, 0);
  EXPECT_LT(mean_holes, n);
}

// Test 2: all electrodes at the same voltage: no current, within its standard error.
TEST(Kmc, EqualVoltagesGiveNoCurrent) {
  for (const char* preset : {"small", "default"}) {
    const auto model = HoppingModel::create(DeviceParameters::preset(preset));
    KmcOptions options;
    options.blocks = 20;
    KmcSimulation simulation(model, 21, 0, options);
    const Measurement r = simulation.simulate(std::vector<double>(8, 0.3), 300000, 30000);
    double chi2 = 0;
    for (int k = 0; k < 8; ++k) {
      ASSERT_GT(r.current_error_na[k], 0);
      const double z = r.current_na[k] / r.current_error_na[k];
      EXPECT_LT(std::abs(z), 3.5) << preset << " electrode " << k << ": " << r.current_na[k] << " ± "
                                   << r.current_error_na[k];
      chi2 += z * z;
    }
    EXPECT_LT(chi2 / 8, 2.5) << preset;
  }
}

// Test 5: the same seed gives the same currents, bit for bit, with 1 or 2 threads.
TEST(Kmc, SameSeedSameBitsWithOneOrTwoThreads) {
  const auto model = HoppingModel::create(DeviceParameters::preset("small"));
  KmcOptions options;
  options.hops_per_sample = 2000;
  options.warmup_hops = 5000;
  std::vector<std::vector<double>> waveform;
  for (int s = 0; s < 12; ++s) waveform.push_back(random_voltages(8, 100 + s, 0.5));
  const auto one = simulate_waveform(model, waveform, 4, 42, 1, options);
  const auto two = simulate_waveform(model, waveform, 4, 42, 2, options);
  const auto again = simulate_waveform(model, waveform, 4, 42, 2, options);
  const auto other = simulate_waveform(model, waveform, 4, 43, 2, options);
  ASSERT_EQ(one.size(), 12u);
  for (int s = 0; s < 12; ++s) {
    EXPECT_TRUE(same_bits(one[s].current_na, two[s].current_na)) << s;
    EXPECT_TRUE(same_bits(one[s].current_error_na, two[s].current_error_na)) << s;
    EXPECT_TRUE(same_bits(two[s].current_na, again[s].current_na)) << s;
    EXPECT_FALSE(same_bits(one[s].current_na, other[s].current_na)) << s;
  }
  const auto a = simulate_independent(model, {waveform.begin(), waveform.begin() + 5}, 3000, 7, 1, options);
  const auto b = simulate_independent(model, {waveform.begin(), waveform.begin() + 5}, 3000, 7, 2, options);
  for (int t = 0; t < 5; ++t) EXPECT_TRUE(same_bits(a[t].current_na, b[t].current_na)) << t;
  // A chunk is the same simulation as a KmcSimulation on stream = chunk index.
  KmcSimulation chunk1(model, 42, 1, options);
  const Measurement first = chunk1.simulate(waveform[4], options.hops_per_sample, options.warmup_hops);
  EXPECT_TRUE(same_bits(first.current_na, one[4].current_na));
  const Measurement second = chunk1.simulate(waveform[5], options.hops_per_sample, 0);
  EXPECT_TRUE(same_bits(second.current_na, one[5].current_na));
}

TEST(Kmc, OccupationCarriesOverBetweenSamples) {
  const auto model = HoppingModel::create(DeviceParameters::preset("small"));
  KmcSimulation a(model, 8), b(model, 8);
  const auto v1 = random_voltages(8, 1, 0.5), v2 = random_voltages(8, 2, 0.5);
  a.simulate(v1, 3000, 1000);
  const Occupation mid = a.occupation();
  a.set_voltages(v2);
  EXPECT_EQ(a.occupation(), mid);  // new voltages never reset the state
  const Measurement second = a.simulate(v2, 3000);
  // The same as one simulation that stops and continues.
  b.simulate(v1, 3000, 1000);
  EXPECT_EQ(b.occupation(), mid);
  const Measurement again = b.simulate(v2, 3000);
  EXPECT_TRUE(same_bits(second.current_na, again.current_na));
  EXPECT_EQ(a.hops_done(), 7000);
  EXPECT_THROW(a.simulate(std::vector<double>(7, 0.0), 10), ArgumentError);
  EXPECT_THROW(a.simulate(v1, -1), ArgumentError);
}

TEST(Kmc, OptionsFromConfig) {
  const Config config = Config::parse(
      "sampling:\n  hops_per_sample: 3000\n  warmup_hops: 0\n  blocks: 4\n  refresh_interval: 100\n"
      "  record_traffic: true\n  record_occupation: true\n  exact_arithmetic: true\n");
  const KmcOptions o = KmcOptions::from_config(config.at("sampling"));
  EXPECT_EQ(o.hops_per_sample, 3000);
  EXPECT_EQ(o.warmup_hops, 0);
  EXPECT_EQ(o.blocks, 4);
  EXPECT_EQ(o.refresh_interval, 100);
  EXPECT_TRUE(o.record_traffic && o.record_occupation && o.exact_arithmetic);
  const auto key_of = [](const std::string& yaml) {
    try {
      KmcOptions::from_config(Config::parse("sampling:\n" + yaml).at("sampling"));
    } catch (const ConfigError& e) {
      return e.key_path();
    }
    return std::string("<no error>");
  };
  EXPECT_EQ(key_of("  hops_per_sample: 0\n"), "sampling.hops_per_sample");
  EXPECT_EQ(key_of("  warmup_hops: -1\n"), "sampling.warmup_hops");
  EXPECT_EQ(key_of("  blocks: 0\n"), "sampling.blocks");
  EXPECT_EQ(key_of("  blocks: many\n"), "sampling.blocks");
}

TEST(Kmc, NoPossibleHopIsAnError) {
  DeviceParameters p = DeviceParameters::preset("small");
  p.acceptor_positions_nm = {{-45, 0}, {45, 0}};  // 90 nm apart: out of hopping range
  p.acceptors = 2;
  p.donors = 1;
  p.electrodes.clear();
  KmcSimulation simulation(HoppingModel::create(p), 1);
  EXPECT_EQ(simulation.total_rate(), 0.0);
  EXPECT_THROW(simulation.step(), Error);
}

// Test 1 (kmc_dn's Boltzmann test): a closed system (gates only) samples the Boltzmann
// distribution over its microstates: time-averaged state probabilities from independent runs
// lie within 2σ of exp(−H/kT)/Z for at least 95% of the states.
TEST(Kmc, ClosedSystemSamplesTheBoltzmannDistribution) {
  DeviceParameters p;
  p.shape = Shape::rectangle;
  p.width_nm = 40;
  p.height_nm = 40;
  p.grid_spacing_nm = 1;
  p.acceptors = 8;
  p.donors = 4;  // 4 holes on 8 sites: 70 microstates
  p.layout_seed = 3;
  p.temperature_k = 150;
  p.disorder_ev = 0.01;
  p.min_hop_distance_nm = 0;
  p.max_hop_distance_nm = 100;
  p.electrodes = DeviceParameters::default_electrodes(2, 20);
  for (auto& e : p.electrodes) e.gate_only = true;
  const auto model = HoppingModel::create(p);
  const std::vector<double> v{0.02, -0.02};
  const int n = 8;

  // Boltzmann weights over all states with 4 holes.
  std::map<unsigned, double> boltzmann;
  double z = 0;
  for (unsigned state = 0; state < (1u << n); ++state) {
    if (__builtin_popcount(state) != 4) continue;
    Occupation o(n);
    for (int i = 0; i < n; ++i) o[i] = (state >> i) & 1;
    boltzmann[state] = std::exp(-model->energy_kt(o, v));
    z += boltzmann[state];
  }
  for (auto& [state, w] : boltzmann) w /= z;
  ASSERT_EQ(boltzmann.size(), 70u);

  const int runs = 40;
  std::map<unsigned, std::vector<double>> estimates;
  for (int run = 0; run < runs; ++run) {
    KmcSimulation simulation(model, 2024, run);
    simulation.set_voltages(v);
    for (int h = 0; h < 1000; ++h) simulation.step();
    unsigned state = 0;
    const Occupation o = simulation.occupation();
    for (int i = 0; i < n; ++i) state |= static_cast<unsigned>(o[i]) << i;
    std::map<unsigned, double> time;
    double total = 0;
    for (int h = 0; h < 40000; ++h) {
      const HopRecord hop = simulation.step();
      time[state] += hop.holding_time;
      total += hop.holding_time;
      state ^= (1u << hop.from) | (1u << hop.to);  // no electrodes: both ends are acceptors
    }
    for (const auto& [s, w] : boltzmann) estimates[s].push_back(time[s] / total);
  }
  int within = 0, within3 = 0;
  double chi2 = 0;
  for (const auto& [s, expected] : boltzmann) {
    const auto& x = estimates[s];
    const double mean = std::accumulate(x.begin(), x.end(), 0.0) / runs;
    double ss = 0;
    for (double e : x) ss += (e - mean) * (e - mean);
    const double sigma = std::sqrt(ss / (runs - 1) / runs);
    ASSERT_GT(sigma, 0) << "state " << s << " never visited";
    const double zscore = (mean - expected) / sigma;
    within += std::abs(zscore) <= 2;
    within3 += std::abs(zscore) <= 3;
    chi2 += zscore * zscore;
  }
  const double fraction = within / 70.0;
  RecordProperty("within_2_sigma", std::to_string(fraction));
  std::printf("Boltzmann: %.1f%% of 70 states within 2σ, %.1f%% within 3σ, χ²/70 = %.2f\n", 100 * fraction,
              100 * within3 / 70.0, chi2 / 70);
  EXPECT_GE(fraction, 0.95);
  EXPECT_GE(within3, 69);
  EXPECT_LT(chi2 / 70, 1.5);
}

// Test 4: the IV curve of one electrode against the others (grounded) is linear around 0 V
// and clearly nonlinear at large bias.
TEST(Kmc, OhmicAtSmallBiasNonlinearAtLargeBias) {
  const auto model = HoppingModel::create(DeviceParameters::preset("small"));
  KmcOptions options;
  options.blocks = 20;
  options.warmup_hops = 20000;
  std::vector<std::vector<double>> voltages;
  for (double bias : {0.001, 0.002, -0.001, 0.25}) {
    std::vector<double> v(8, 0.0);
    v[0] = bias;
    voltages.push_back(v);
  }
  const auto r = simulate_independent(model, voltages, 1000000, 77, 2, options);
  const auto current = [&](int i) { return r[i].current_na[0]; };
  const auto error = [&](int i) { return r[i].current_error_na[0]; };
  std::printf("I(1 mV) = %.4g ± %.2g, I(2 mV) = %.4g ± %.2g, I(-1 mV) = %.4g ± %.2g, I(250 mV) = %.4g ± %.2g nA\n",
              current(0), error(0), current(1), error(1), current(2), error(2), current(3), error(3));
  // Holes flow out of the positive electrode into the device: negative current into it.
  EXPECT_LT(current(0), -5 * error(0));
  // Linear: I(2V) = 2 I(V) and I(−V) = −I(V), within 3σ.
  EXPECT_NEAR(current(1), 2 * current(0), 3 * std::hypot(error(1), 2 * error(0)));
  EXPECT_NEAR(current(2), -current(0), 3 * std::hypot(error(2), error(0)));
  // Nonlinear: the conductance at 250 mV differs from the small-bias one by far more than
  // the errors allow.
  const double g_small = current(0) / 0.001, g_small_error = error(0) / 0.001;
  const double g_large = current(3) / 0.25, g_large_error = error(3) / 0.25;
  EXPECT_GT(std::abs(g_large - g_small), 10 * std::hypot(g_small_error, g_large_error));
}

// Reordering the acceptors gives the same physics: currents agree within their errors.
TEST(Kmc, SlowCurrentsInvariantUnderReorderingOfSites) {
  const DeviceParameters p = DeviceParameters::preset("small");
  const Layout layout = Layout::generate(p);
  std::vector<int> order(layout.acceptor_count());
  for (int k = 0; k < layout.acceptor_count(); ++k) order[k] = (7 * k + 2) % layout.acceptor_count();
  const auto a = std::make_shared<const HoppingModel>(p, layout);
  const auto b = std::make_shared<const HoppingModel>(p, layout.reordered(order));
  KmcOptions options;
  options.blocks = 20;
  const auto v = random_voltages(8, 5, 0.4);
  const Measurement ra = KmcSimulation(a, 1, 0, options).simulate(v, 2000000, 20000);
  const Measurement rb = KmcSimulation(b, 2, 0, options).simulate(v, 2000000, 20000);
  for (int k = 0; k < 8; ++k)
    EXPECT_NEAR(ra.current_na[k], rb.current_na[k], 4 * std::hypot(ra.current_error_na[k], rb.current_error_na[k]))
        << k;
}

// The two current estimators measure the same thing; the expected flux is less noisy.
TEST(Kmc, SlowExpectedFluxAndCountedCurrentsAgree) {
  const auto model = HoppingModel::create(DeviceParameters::preset("default"));
  KmcOptions options;
  options.blocks = 20;
  options.record_traffic = true;
  KmcSimulation simulation(model, 4, 0, options);
  const Measurement r = simulation.simulate(random_voltages(8, 8, 0.8), 3000000, 50000);
  const int n = model->acceptor_count(), m = n + 8;
  for (int k = 0; k < 8; ++k) {
    // Counting noise: at most that of a Poisson count of every hop touching the electrode.
    std::int64_t touching = 0;
    for (int i = 0; i < m; ++i) touching += r.traffic[i * m + n + k] + r.traffic[(n + k) * m + i];
    const double unit = model->current_unit_na() / (r.time_s * model->parameters().attempt_frequency_hz);
    const double sigma = std::hypot(r.current_error_na[k], unit * std::sqrt(static_cast<double>(touching)));
    EXPECT_NEAR(r.counted_current_na[k], r.current_na[k], 4 * sigma) << k;
    // The expected-flux estimator is the less noisy one.
    EXPECT_LT(r.current_error_na[k], unit * std::sqrt(static_cast<double>(touching))) << k;
  }
}

}  // namespace
}  // namespace brains::physics
