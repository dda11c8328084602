#include <gtest/gtest.h>

#include <algorithm>
#include <cmath>
#include <map>

#include "brains/physics/model.h"
#include "brains/physics/random.h"

namespace brains::physics {
namespace {

std::vector<double> random_voltages(int n, std::uint64_t seed, double scale = 1.0) {
  Rng rng(seed, "test.voltages");
  std::vector<double> v(n);
  for (double& x : v) x = scale * (2 * rng.uniform() - 1);
  return v;
}

Occupation random_occupation(int n, double fill, std::uint64_t seed) {
  Rng rng(seed, "test.occupation");
  Occupation o(n);
  for (auto& x : o) x = rng.uniform() < fill ? 1 : 0;
  return o;
}

// A tiny analytic case: two acceptors 10 nm apart, no donors, no electrodes, no disorder.
TEST(HoppingModel, TwoSitesByHand) {
  DeviceParameters p = DeviceParameters::preset("small");
  p.acceptor_positions_nm = {{-5, 0}, {5, 0}};
  p.acceptors = 2;
  p.donors = 0;
  p.disorder_ev = 0;
  p.electrodes.clear();
  const HoppingModel model(p, Layout::generate(p));
  const double kt = p.kt_ev();
  const double u = kCoulombEvNm / (10.0 * 10) / kt;  // U(10 nm) in kT
  EXPECT_NEAR(model.interaction_kt(0, 1), u, 1e-12);
  // One hole: the empty site attracts it, both sites are equivalent, ΔE = −U... of the hop
  // ε_j − ε_i − U = (−0) − (−U) − U = 0.
  const Occupation one{1, 0};
  const auto e = model.site_energies_kt(one, {});
  EXPECT_NEAR(e[0], -u, 1e-12);
  EXPECT_NEAR(e[1], 0, 1e-12);
  EXPECT_NEAR(model.hop_energy_kt(0, 1, one, {}), 0, 1e-12);
  EXPECT_NEAR(model.rate(0, 1, one, {}), std::exp(-2 * 10.0 / p.localization_length_nm), 1e-15);
  EXPECT_EQ(model.rate(1, 0, one, {}), 0);  // the end is empty, the start too
  EXPECT_EQ(model.events(one, {}).size(), 1u);
  // H: the empty pair costs U; one hole removes it.
  EXPECT_NEAR(model.energy_kt({0, 0}, {}), u, 1e-12);
  EXPECT_NEAR(model.energy_kt(one, {}), 0, 1e-12);
}

// Every hop changes H by its ΔE (acceptor hops), or by ΔE ± eV_k (electrode hops).
TEST(HoppingModel, HopEnergiesAreEnergyDifferences) {
  const auto model = HoppingModel::create(DeviceParameters::preset("small"));
  const int n = model->acceptor_count(), p = model->electrode_count();
  for (int trial = 0; trial < 5; ++trial) {
    const auto v = random_voltages(p, trial);
    const Occupation s = random_occupation(n, 0.6, trial);
    const double h = model->energy_kt(s, v);
    for (const auto& event : model->events(s, v)) {
      Occupation t = s;
      if (!model->is_electrode(event.from)) t[event.from] = 0;
      if (!model->is_electrode(event.to)) t[event.to] = 1;
      double reservoir = 0;  // energy the electrodes gain
      if (model->is_electrode(event.from)) reservoir -= model->volts_to_kt(v[event.from - n]);
      if (model->is_electrode(event.to)) reservoir += model->volts_to_kt(v[event.to - n]);
      const double delta = model->hop_energy_kt(event.from, event.to, s, v);
      EXPECT_NEAR(model->energy_kt(t, v) - h + reservoir, delta, 1e-9 * (1 + std::abs(h)));
    }
  }
}

// Detailed balance: Γ(s → s') / Γ(s' → s) = exp(−ΔE/kT), ΔE including the electrode's eV.
TEST(HoppingModel, RatesObeyDetailedBalance) {
  const auto model = HoppingModel::create(DeviceParameters::preset("default"));
  const int n = model->acceptor_count(), p = model->electrode_count();
  int checked = 0;
  for (int trial = 0; trial < 3; ++trial) {
    const auto v = random_voltages(p, 10 + trial, 0.2);
    const Occupation s = random_occupation(n, 0.7, 10 + trial);
    auto events = model->events(s, v);
    for (std::size_t k = 0; k < events.size(); k += 7) {  // a sample of the ~1000 events
      const auto& event = events[k];
      Occupation t = s;
      if (!model->is_electrode(event.from)) t[event.from] = 0;
      if (!model->is_electrode(event.to)) t[event.to] = 1;
      const double forward = model->rate(event.from, event.to, s, v);
      const double backward = model->rate(event.to, event.from, t, v);
      ASSERT_GT(forward, 0);
      ASSERT_GT(backward, 0);
      const double delta = model->hop_energy_kt(event.from, event.to, s, v);
      EXPECT_NEAR(std::log(forward / backward), -delta, 1e-9 * (1 + std::abs(delta)));
      EXPECT_DOUBLE_EQ(forward, event.rate);
      ++checked;
    }
  }
  EXPECT_GT(checked, 300);
}

// Gate-only electrodes shape the potential but exchange nothing; nothing hops between
// electrodes.
TEST(HoppingModel, GatesExchangeNoCarriers) {
  DeviceParameters p = DeviceParameters::preset("small");
  p.electrodes[3].gate_only = true;
  const HoppingModel model(p, Layout::generate(p));
  const int n = model.acceptor_count();
  for (const auto& pair : model.electrode_pairs()) EXPECT_NE(pair.b, n + 3);
  const auto v = random_voltages(8, 3);
  const Occupation s = random_occupation(n, 0.5, 3);
  EXPECT_EQ(model.electrode_flux(s, v)[3], 0.0);
  for (int i = 0; i < n; ++i) EXPECT_EQ(model.rate(i, n + 3, Occupation(n, 1), v), 0.0);
  EXPECT_EQ(model.rate(n, n + 1, s, v), 0.0);
  // The gate still moves the potential.
  auto w = v;
  w[3] += 0.5;
  EXPECT_NE(model.constant_energies_kt(w), model.constant_energies_kt(v));
}

// Reordering the acceptors changes nothing physical.
TEST(HoppingModel, InvariantUnderReorderingOfSites) {
  const DeviceParameters p = DeviceParameters::preset("small");
  const Layout layout = Layout::generate(p);
  const int n = layout.acceptor_count();
  std::vector<int> order(n);
  for (int k = 0; k < n; ++k) order[k] = (11 * k + 5) % n;
  const HoppingModel a(p, layout), b(p, layout.reordered(order));
  const auto v = random_voltages(8, 4);
  const Occupation sa = random_occupation(n, 0.5, 4);
  Occupation sb(n);
  for (int k = 0; k < n; ++k) sb[k] = sa[order[k]];
  const auto ea = a.site_energies_kt(sa, v), eb = b.site_energies_kt(sb, v);
  for (int k = 0; k < n; ++k) EXPECT_NEAR(eb[k], ea[order[k]], 1e-9);
  EXPECT_NEAR(a.energy_kt(sa, v), b.energy_kt(sb, v), 1e-9);
  // The same events with the same rates, endpoints renamed.
  const auto to_a = [&](int endpoint) { return endpoint < n ? order[endpoint] : endpoint; };
  std::map<std::pair<int, int>, double> rates_a;
  for (const auto& e : a.events(sa, v)) rates_a[{e.from, e.to}] = e.rate;
  const auto events_b = b.events(sb, v);
  ASSERT_EQ(events_b.size(), rates_a.size());
  for (const auto& e : events_b) {
    const auto it = rates_a.find({to_a(e.from), to_a(e.to)});
    ASSERT_NE(it, rates_a.end());
    EXPECT_NEAR(e.rate, it->second, 1e-12 * it->second);
  }
  const auto fa = a.electrode_flux(sa, v), fb = b.electrode_flux(sb, v);
  for (int k = 0; k < 8; ++k) EXPECT_NEAR(fa[k], fb[k], 1e-12);
}

TEST(HoppingModel, UnitsOfCurrentAndEnergy) {
  const auto model = HoppingModel::create(DeviceParameters::preset("small"));
  EXPECT_NEAR(model->current_unit_na(), 1.602176634e-19 * 1e12 * 1e9, 1e-12);
  EXPECT_NEAR(model->volts_to_kt(1.0), 150.7, 0.1);  // field-anchors §1.3: 1 V = 150.7 kT at 77 K
  EXPECT_THROW(model->site_energies_kt(Occupation(3, 0), std::vector<double>(8, 0.0)), ArgumentError);
  EXPECT_THROW(model->site_energies_kt(Occupation(30, 0), std::vector<double>(7, 0.0)), ArgumentError);
}

}  // namespace
}  // namespace brains::physics
