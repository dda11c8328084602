#include "brains/physics/kmc.h"

#include <atomic>
#include <cmath>
#include <exception>
#include <mutex>
#include <numeric>
#include <thread>

#include "brains/core/error.h"
#include "hop_rates.h"

namespace brains::physics {

// ---------------------------------------------------------------------------------------
// Options

namespace {
std::string join(const std::string& prefix, const std::string& key) {
  return prefix.empty() ? key : prefix + "." + key;
}
}  // namespace

KmcOptions KmcOptions::from_config(const Config& config) {
  config.warn_unknown_keys({"hops_per_sample", "warmup_hops", "blocks", "refresh_interval",
                            "record_traffic", "record_occupation", "exact_arithmetic"});
  KmcOptions o;
  o.hops_per_sample = config.get<std::int64_t>("hops_per_sample", o.hops_per_sample);
  o.warmup_hops = config.get<std::int64_t>("warmup_hops", o.warmup_hops);
  o.blocks = config.get<int>("blocks", o.blocks);
  o.refresh_interval = config.get<std::int64_t>("refresh_interval", o.refresh_interval);
  o.record_traffic = config.get<bool>("record_traffic", o.record_traffic);
  o.record_occupation = config.get<bool>("record_occupation", o.record_occupation);
  o.exact_arithmetic = config.get<bool>("exact_arithmetic", o.exact_arithmetic);
  o.validate(config.key_path());
  return o;
}

void KmcOptions::validate(const std::string& prefix) const {
  if (hops_per_sample < 1)
    throw ConfigError(join(prefix, "hops_per_sample"),
                      "expected a positive integer, got " + std::to_string(hops_per_sample));
  if (warmup_hops < 0)
    throw ConfigError(join(prefix, "warmup_hops"),
                      "expected a non-negative integer, got " + std::to_string(warmup_hops));
  if (blocks < 1)
    throw ConfigError(join(prefix, "blocks"), "expected a positive integer, got " + std::to_string(blocks));
  if (refresh_interval < 1)
    throw ConfigError(join(prefix, "refresh_interval"),
                      "expected a positive integer, got " + std::to_string(refresh_interval));
}

// ---------------------------------------------------------------------------------------
// Simulation

KmcSimulation::KmcSimulation(std::shared_ptr<const HoppingModel> model, std::uint64_t seed,
                             std::uint64_t stream, KmcOptions options)
    : model_(std::move(model)), options_(options), rng_(seed, "physics.kmc", stream) {
  if (!model_) throw ArgumentError("cannot create a KMC simulation without a model");
  options_.validate();
  rates_ = std::make_unique<detail::HopRates>(
      *model_, detail::HopRates::Storage::automatic,
      options_.exact_arithmetic ? detail::HopRates::Arithmetic::exact : detail::HopRates::Arithmetic::automatic);
  voltages_.assign(model_->electrode_count(), 0.0);

  // N_A − N_D holes on distinct acceptors chosen at random (partial Fisher–Yates).
  const int n = model_->acceptor_count();
  std::vector<int> order(n);
  std::iota(order.begin(), order.end(), 0);
  Rng occupation_rng(seed, "physics.kmc.occupation", stream);
  Occupation occupation(n, 0);
  for (int h = 0; h < model_->initial_hole_count(); ++h) {
    const int pick = h + static_cast<int>(occupation_rng.below(static_cast<std::uint64_t>(n - h)));
    std::swap(order[h], order[pick]);
    occupation[order[h]] = 1;
  }
  rates_->set_occupation(occupation);
}

KmcSimulation::~KmcSimulation() = default;
KmcSimulation::KmcSimulation(KmcSimulation&&) noexcept = default;
KmcSimulation& KmcSimulation::operator=(KmcSimulation&&) noexcept = default;

void KmcSimulation::set_voltages(const std::vector<double>& voltages_v) {
  if (static_cast<int>(voltages_v.size()) != model_->electrode_count())
    throw ArgumentError("cannot set voltages: expected " + std::to_string(model_->electrode_count()) +
                        " electrode voltages, got " + std::to_string(voltages_v.size()));
  for (double v : voltages_v)
    if (!std::isfinite(v)) throw ArgumentError("cannot set voltages: a voltage is not finite");
  voltages_ = voltages_v;
  rates_->set_voltages(voltages_);
  since_refresh_ = 0;
}

void KmcSimulation::set_occupation(const Occupation& occupation) {
  rates_->set_occupation(occupation);
  since_refresh_ = 0;
}

Occupation KmcSimulation::occupation() const { return rates_->occupation(); }

void KmcSimulation::maybe_refresh() {
  if (++since_refresh_ >= options_.refresh_interval) {
    rates_->refresh();
    since_refresh_ = 0;
  }
}

HopRecord KmcSimulation::step() {
  const double total = rates_->compute();
  if (!(total > 0)) throw Error("cannot simulate: no hop is possible in this state");
  const detail::Hop hop = rates_->select(rng_.uniform() * total);
  rates_->apply(hop);
  ++hops_done_;
  maybe_refresh();
  return {hop.from, hop.to, 1.0 / total};
}

Measurement KmcSimulation::simulate(const std::vector<double>& voltages_v, std::int64_t hops,
                                    std::int64_t warmup_hops) {
  if (hops < 0 || warmup_hops < 0)
    throw ArgumentError("cannot simulate a negative number of hops");
  set_voltages(voltages_v);
  for (std::int64_t h = 0; h < warmup_hops; ++h) step();

  const int n = model_->acceptor_count(), p = model_->electrode_count(), m = n + p;
  const int blocks = static_cast<int>(std::max<std::int64_t>(1, std::min<std::int64_t>(options_.blocks, hops)));
  Measurement out;
  out.hops = hops;
  out.net_hops.assign(p, 0);
  if (options_.record_traffic) out.traffic.assign(static_cast<std::size_t>(m) * m, 0);
  std::vector<double> occupied_time, last_change;
  if (options_.record_occupation) {
    occupied_time.assign(n, 0.0);
    last_change.assign(n, 0.0);
  }

  std::vector<double> total_flux(p, 0.0), block_flux(p, 0.0);
  std::vector<std::vector<double>> block_current(blocks, std::vector<double>(p, 0.0));
  double time = 0;
  detail::HopRates& rates = *rates_;
  for (int b = 0; b < blocks; ++b) {
    const std::int64_t count = hops * (b + 1) / blocks - hops * b / blocks;
    std::fill(block_flux.begin(), block_flux.end(), 0.0);
    double block_time = 0;
    for (std::int64_t h = 0; h < count; ++h) {
      const double total = rates.compute();
      if (!(total > 0)) throw Error("cannot simulate: no hop is possible in this state");
      const double tau = 1.0 / total;
      const std::vector<double>& flux = rates.flux();
      for (int k = 0; k < p; ++k) block_flux[k] += flux[k] * tau;
      block_time += tau;
      const detail::Hop hop = rates.select(rng_.uniform() * total);
      if (options_.record_occupation) {
        const double now = time + block_time;
        for (int site : {hop.from, hop.to})
          if (site < n) {
            if (rates.occupied(site)) occupied_time[site] += now - last_change[site];
            last_change[site] = now;
          }
      }
      rates.apply(hop);
      if (hop.to >= n) ++out.net_hops[hop.to - n];
      if (hop.from >= n) --out.net_hops[hop.from - n];
      if (options_.record_traffic) ++out.traffic[static_cast<std::size_t>(hop.from) * m + hop.to];
      ++hops_done_;
      maybe_refresh();
    }
    for (int k = 0; k < p; ++k) {
      total_flux[k] += block_flux[k];
      block_current[b][k] = block_time > 0 ? block_flux[k] / block_time : 0.0;
    }
    time += block_time;
  }

  const double unit = model_->current_unit_na();
  const double nu0 = model_->parameters().attempt_frequency_hz;
  out.time_s = time / nu0;
  out.current_na.assign(p, 0.0);
  out.current_error_na.assign(p, 0.0);
  out.counted_current_na.assign(p, 0.0);
  for (int k = 0; k < p; ++k) {
    if (time > 0) {
      out.current_na[k] = unit * total_flux[k] / time;
      out.counted_current_na[k] = unit * static_cast<double>(out.net_hops[k]) / time;
    }
    if (blocks >= 2) {
      double mean = 0;
      for (int b = 0; b < blocks; ++b) mean += block_current[b][k];
      mean /= blocks;
      double ss = 0;
      for (int b = 0; b < blocks; ++b) ss += (block_current[b][k] - mean) * (block_current[b][k] - mean);
      out.current_error_na[k] = unit * std::sqrt(ss / (blocks - 1) / blocks);
    }
  }
  if (options_.record_occupation) {
    out.mean_occupation.assign(n, 0.0);
    for (int i = 0; i < n; ++i) {
      if (rates.occupied(i)) occupied_time[i] += time - last_change[i];
      out.mean_occupation[i] = time > 0 ? occupied_time[i] / time : static_cast<double>(rates.occupied(i));
    }
  }
  return out;
}

double KmcSimulation::total_rate() { return rates_->compute(); }

std::vector<HoppingModel::Event> KmcSimulation::events() {
  rates_->compute();
  return rates_->events();
}

std::vector<double> KmcSimulation::electrode_flux() {
  rates_->compute();
  return rates_->flux();
}

std::vector<double> KmcSimulation::site_energies_kt() const { return rates_->site_energies_kt(); }

bool KmcSimulation::uses_fast_arithmetic() const { return rates_->fast(); }

// ---------------------------------------------------------------------------------------
// Parallel runs

void run_parallel(std::int64_t tasks, int threads, const std::function<void(std::int64_t)>& job) {
  if (tasks <= 0) return;
  if (threads <= 0) threads = static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
  threads = static_cast<int>(std::min<std::int64_t>(threads, tasks));
  std::atomic<std::int64_t> next{0};
  std::atomic<bool> failed{false};
  std::exception_ptr error;
  std::mutex error_mutex;
  const auto worker = [&] {
    for (;;) {
      const std::int64_t t = next.fetch_add(1);
      if (t >= tasks || failed.load()) return;
      try {
        job(t);
      } catch (...) {
        std::lock_guard<std::mutex> lock(error_mutex);
        if (!error) error = std::current_exception();
        failed = true;
      }
    }
  };
  if (threads == 1) {
    worker();
  } else {
    std::vector<std::thread> pool;
    pool.reserve(threads);
    for (int i = 0; i < threads; ++i) pool.emplace_back(worker);
    for (auto& thread : pool) thread.join();
  }
  if (error) std::rethrow_exception(error);
}

std::vector<Measurement> simulate_independent(std::shared_ptr<const HoppingModel> model,
                                              const std::vector<std::vector<double>>& voltages_v,
                                              std::int64_t hops, std::uint64_t seed, int threads,
                                              const KmcOptions& options) {
  options.validate();
  std::vector<Measurement> out(voltages_v.size());
  run_parallel(static_cast<std::int64_t>(voltages_v.size()), threads, [&](std::int64_t t) {
    KmcSimulation simulation(model, seed, static_cast<std::uint64_t>(t), options);
    out[t] = simulation.simulate(voltages_v[t], hops, options.warmup_hops);
  });
  return out;
}

std::vector<Measurement> simulate_waveform(std::shared_ptr<const HoppingModel> model,
                                           const std::vector<std::vector<double>>& waveform_v,
                                           std::int64_t chunk_length, std::uint64_t seed, int threads,
                                           const KmcOptions& options) {
  options.validate();
  if (chunk_length < 1)
    throw ArgumentError("cannot simulate a waveform: chunk length must be positive, got " +
                        std::to_string(chunk_length));
  const auto samples = static_cast<std::int64_t>(waveform_v.size());
  const std::int64_t chunks = (samples + chunk_length - 1) / chunk_length;
  std::vector<Measurement> out(waveform_v.size());
  run_parallel(chunks, threads, [&](std::int64_t c) {
    KmcSimulation simulation(model, seed, static_cast<std::uint64_t>(c), options);
    const std::int64_t first = c * chunk_length, last = std::min(samples, first + chunk_length);
    for (std::int64_t s = first; s < last; ++s)
      out[s] = simulation.simulate(waveform_v[s], options.hops_per_sample, s == first ? options.warmup_hops : 0);
  });
  return out;
}

}  // namespace brains::physics
