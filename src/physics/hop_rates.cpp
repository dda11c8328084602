#include "hop_rates.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "brains/core/error.h"

// The passes over all rates are compiled twice, for AVX2 and for the baseline, and picked
// once at load time. Both give bit-identical results: every sum keeps 4 explicit partial sums
// reduced in a fixed order, and no operation is contracted or reassociated.
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define BRAINS_VECTOR_CLONES __attribute__((target_clones("avx2", "default")))
#define BRAINS_INLINE inline __attribute__((always_inline))
#pragma GCC diagnostic ignored "-Wpsabi"  // 32-byte vectors appear only in inlined helpers
#else
#define BRAINS_VECTOR_CLONES
#define BRAINS_INLINE inline
#endif

namespace brains::physics::detail {

namespace {

// The factors of two sites (or a site and an electrode) multiply to exp(ε_i − ε_j); while
// every energy of a state lies within this many kT of every other, no such product
// overflows (so no 0 · ∞ can arise either) and the fast arithmetic applies.
constexpr double kMaxSpread = 700;

int round_up(int n, int m) { return (n + m - 1) / m * m; }

// 4 doubles, as one AVX register or two SSE2 ones: element-wise IEEE arithmetic, so both
// builds compute the same bits.
typedef double v4d __attribute__((vector_size(32)));
typedef double v4d_unaligned __attribute__((vector_size(32), aligned(8), may_alias));
BRAINS_INLINE v4d load4(const double* p) { return *reinterpret_cast<const v4d_unaligned*>(p); }
BRAINS_INLINE void store4(double* p, v4d v) { *reinterpret_cast<v4d_unaligned*>(p) = v; }
BRAINS_INLINE v4d splat(double x) { return v4d{x, x, x, x}; }
BRAINS_INLINE v4d min4(v4d x, v4d w) { return x < w ? x : w; }
BRAINS_INLINE double reduce4(const double* a) { return (a[0] + a[1]) + (a[2] + a[3]); }
BRAINS_INLINE double rate_of(double w, double x) { return x < w ? x : w; }

// Σ over a row's chunks of min(w, (vec · scalar) · W), as 4 partial sums (even chunks into
// one set, odd into another, added at the end).
BRAINS_INLINE v4d pair_row(const int* __restrict start, const double* __restrict values, int count,
                           const double* __restrict vec, double scalar) {
  v4d a = splat(0), b = splat(0);
  const v4d s = splat(scalar);
  int c = 0;
  for (; c + 2 <= count; c += 2) {
    const double* __restrict x = values + 8 * c;
    a += min4((load4(vec + start[c]) * s) * load4(x + 4), load4(x));
    b += min4((load4(vec + start[c + 1]) * s) * load4(x + 12), load4(x + 8));
  }
  if (c < count) a += min4((load4(vec + start[c]) * s) * load4(values + 8 * c + 4), load4(values + 8 * c));
  return a + b;
}

// An electrode's row: out of occupied sites, into empty ones. Exactly one of g_i, f_i is
// non-zero, so (g_i·e^{ρ−eV} + f_i·e^{eV−ρ})·w is the rate's argument either way; `sign` is +1
// for occupied sites (out of the device) and −1 for empty ones, giving net = out − in.
BRAINS_INLINE v4d electrode_row(const int* __restrict start, const double* __restrict w, int count,
                                const double* __restrict g, const double* __restrict f,
                                const double* __restrict sign, double out_factor, double in_factor,
                                double* __restrict net) {
  v4d a = splat(0), d = splat(0);
  const v4d so = splat(out_factor), si = splat(in_factor);
  for (int c = 0; c < count; ++c) {
    const v4d wc = load4(w + 4 * c);
    const v4d r = min4((load4(g + start[c]) * so + load4(f + start[c]) * si) * wc, wc);
    a += r;
    d += r * load4(sign + start[c]);
  }
  *net = (d[0] + d[1]) + (d[2] + d[3]);
  return a;
}

struct PassInput {
  const Row* rows;
  const int* chunk_start;
  const double* values;
  const int* sites;  // visited slots
  int site_count;
  const double* vec;      // g (visiting empty sites) or f (visiting occupied ones)
  const double* scalars;  // f or g
  const Row* electrode_rows;
  const int* electrode_chunk_start;
  const double* electrode_w;
  const int* electrode_ids;
  int electrode_count;
  const double* g;
  const double* f;
  const double* sign;
  const double* out_factor;
  const double* in_factor;
};

// One pass over every rate: 4 partial sums per visited site and per electrode, the
// electrode fluxes, and the total.
BRAINS_VECTOR_CLONES
double fast_pass(const PassInput& in, double* __restrict sums, double* __restrict flux) {
  v4d total = splat(0);
  for (int s = 0; s < in.site_count; ++s) {
    const Row row = in.rows[in.sites[s]];
    const v4d sum = pair_row(in.chunk_start + row.first_chunk, in.values + 8 * row.first_chunk, row.chunk_count,
                             in.vec, in.scalars[in.sites[s]]);
    store4(sums + 4 * s, sum);
    total += sum;
  }
  for (int e = 0; e < in.electrode_count; ++e) {
    const Row row = in.electrode_rows[e];
    const int k = in.electrode_ids[e];
    const v4d sum = electrode_row(in.electrode_chunk_start + row.first_chunk, in.electrode_w + 4 * row.first_chunk,
                                  row.chunk_count, in.g, in.f, in.sign, in.out_factor[k], in.in_factor[k], &flux[k]);
    store4(sums + 4 * (in.site_count + e), sum);
    total += sum;
  }
  return (total[0] + total[1]) + (total[2] + total[3]);
}

// The rates of one row, one per slot of its chunks (for picking the hop in that row).
BRAINS_VECTOR_CLONES
void pair_rates(const int* __restrict start, const double* __restrict values, int count,
                const double* __restrict vec, double scalar, double* __restrict out) {
  const v4d s = splat(scalar);
  for (int c = 0; c < count; ++c)
    store4(out + 4 * c, min4((load4(vec + start[c]) * s) * load4(values + 8 * c + 4), load4(values + 8 * c)));
}

BRAINS_VECTOR_CLONES
void electrode_rates(const int* __restrict start, const double* __restrict w, int count, const double* __restrict g,
                     const double* __restrict f, double out_factor, double in_factor, double* __restrict out) {
  const v4d so = splat(out_factor), si = splat(in_factor);
  for (int c = 0; c < count; ++c) {
    const v4d wc = load4(w + 4 * c);
    store4(out + 4 * c, min4((load4(g + start[c]) * so + load4(f + start[c]) * si) * wc, wc));
  }
}

BRAINS_VECTOR_CLONES
void scale2(double* __restrict f, double* __restrict g, const double* __restrict fa,
            const double* __restrict fb, const double* __restrict ga, const double* __restrict gb,
            int length) {
  for (int k = 0; k < length; ++k) {
    f[k] *= fa[k] * fb[k];
    g[k] *= ga[k] * gb[k];
  }
}

BRAINS_VECTOR_CLONES
void scale1(double* __restrict f, double* __restrict g, const double* __restrict fa,
            const double* __restrict ga, int length) {
  for (int k = 0; k < length; ++k) {
    f[k] *= fa[k];
    g[k] *= ga[k];
  }
}

inline double exact_rate(double w, double delta) { return w * (delta > 0 ? std::exp(-delta) : 1.0); }

// The 4-slot chunks holding the given slots (sorted, distinct).
std::vector<int> chunks_of(std::vector<int> slots) {
  for (int& s : slots) s = s / 4 * 4;
  std::sort(slots.begin(), slots.end());
  slots.erase(std::unique(slots.begin(), slots.end()), slots.end());
  return slots;
}

}  // namespace

HopRates::HopRates(const HoppingModel& model, Storage storage, Arithmetic arithmetic)
    : model_(model), arithmetic_(arithmetic) {
  n_ = model.acceptor_count();
  p_ = model.electrode_count();
  stride_ = round_up(n_ + 1, 8);

  // Partners of each site (model order) and of each electrode.
  std::vector<std::vector<std::pair<int, double>>> partners(n_), electrode_sites(p_);
  for (const auto& pair : model.acceptor_pairs()) {
    partners[pair.a].emplace_back(pair.b, pair.distance_factor);
    partners[pair.b].emplace_back(pair.a, pair.distance_factor);
  }
  for (const auto& pair : model.electrode_pairs())
    electrode_sites[pair.b - n_].emplace_back(pair.a, pair.distance_factor);

  // The slot order: the model's, or strips across the device (snaking, x within a strip),
  // whichever gives fewer chunks.
  const auto chunk_count = [&](const std::vector<int>& slot_of) {
    long count = 0;
    std::vector<int> slots;
    for (const auto* lists : {&partners, &electrode_sites})
      for (const auto& list : *lists) {
        slots.clear();
        for (const auto& entry : list) slots.push_back(slot_of[entry.first]);
        count += static_cast<long>(chunks_of(slots).size());
      }
    return count;
  };
  std::vector<int> identity(n_);
  std::iota(identity.begin(), identity.end(), 0);
  std::vector<int> best_order = identity;
  long best = storage == Storage::banded ? -1 : chunk_count(identity);
  dense_ = storage != Storage::banded;
  if (storage != Storage::dense) {
    const auto& sites = model.layout().acceptors_nm;
    double y_min = INFINITY;
    for (const Point& p : sites) y_min = std::min(y_min, p.y);
    const double r_max = model.parameters().max_hop_distance_nm;
    for (double height : {r_max / 6, r_max / 4, r_max / 3, r_max / 2, r_max / 1.5, r_max}) {
      std::vector<int> order(identity);  // order[slot] = site
      const auto key = [&](int i) {
        const int strip = static_cast<int>(std::floor((sites[i].y - y_min) / height));
        return std::make_pair(strip, (strip % 2 ? -1 : 1) * sites[i].x);
      };
      std::stable_sort(order.begin(), order.end(), [&](int a, int b) { return key(a) < key(b); });
      std::vector<int> slot_of(n_);
      for (int s = 0; s < n_; ++s) slot_of[order[s]] = s;
      const long count = chunk_count(slot_of);
      if (best < 0 || count < best) {
        best = count;
        best_order = order;
        dense_ = false;
      }
    }
  }
  site_of_slot_ = best_order;
  slot_of_site_.assign(n_, 0);
  for (int s = 0; s < n_; ++s) slot_of_site_[site_of_slot_[s]] = s;

  // Rows: the chunks holding the partners, with w (and W) at the partners' places.
  const auto build = [&](const std::vector<std::pair<int, double>>& list, std::vector<int>& starts, auto& values,
                         bool pair_row, int self_site) {
    std::vector<int> slots;
    for (const auto& entry : list) slots.push_back(slot_of_site_[entry.first]);
    const int per_chunk = pair_row ? 8 : 4;
    Row row{static_cast<int>(starts.size()), 0};
    for (int start : chunks_of(slots)) {
      starts.push_back(start);
      values.insert(values.end(), per_chunk, 0.0);
      ++row.chunk_count;
    }
    for (const auto& [site, factor] : list) {
      const int slot = slot_of_site_[site];
      const auto chunk = std::lower_bound(starts.begin() + row.first_chunk, starts.end(), slot / 4 * 4) -
                         starts.begin();
      const std::size_t at = static_cast<std::size_t>(chunk) * per_chunk + slot % 4;
      values[at] = factor;
      if (pair_row) values[at + 4] = factor * std::exp(model.interaction_kt(self_site, site));
    }
    return row;
  };
  rows_.resize(n_);
  for (int s = 0; s < n_; ++s)
    rows_[s] = build(partners[site_of_slot_[s]], chunk_start_, pair_values_, true, site_of_slot_[s]);
  for (int k = 0; k < p_; ++k) {
    if (electrode_sites[k].empty()) continue;  // gate-only, or out of reach
    electrode_ids_.push_back(k);
    electrode_rows_.push_back(build(electrode_sites[k], electrode_chunk_start_, electrode_w_, false, -1));
  }

  // Interactions in slot order.
  const std::size_t square = static_cast<std::size_t>(n_) * stride_;
  u_.assign(square, 0.0);
  exp_u_.assign(square, 1.0);
  exp_minus_u_.assign(square, 1.0);
  interaction_sum_.assign(n_, 0.0);
  for (int s = 0; s < n_; ++s)
    for (int t = 0; t < n_; ++t) {
      const double u = model.interaction_kt(site_of_slot_[s], site_of_slot_[t]);
      const std::size_t at = static_cast<std::size_t>(s) * stride_ + t;
      u_[at] = u;
      exp_u_[at] = std::exp(u);
      exp_minus_u_[at] = std::exp(-u);
      interaction_sum_[s] += u;
      interaction_max_ = std::max(interaction_max_, u);
    }

  sums_.assign(4 * (n_ + electrode_ids_.size()), 0.0);
  flux_.assign(p_, 0.0);
  int longest = 0;
  for (const Row& row : rows_) longest = std::max(longest, 4 * row.chunk_count);
  for (const Row& row : electrode_rows_) longest = std::max(longest, 4 * row.chunk_count);
  scratch_.assign(longest, 0.0);

  f_.assign(stride_, 0.0);
  g_.assign(stride_, 0.0);
  sign_.assign(stride_, 0.0);
  energies_.assign(n_, 0.0);
  constant_kt_.assign(n_, 0.0);
  occupied_.assign(n_, 0);
  position_.assign(n_, 0);
  set_occupation(Occupation(n_, 0));
  set_voltages(std::vector<double>(p_, 0.0));
}

double HopRates::mean_row_length() const {
  const std::size_t rows = rows_.size() + electrode_rows_.size();
  return rows ? 4.0 * static_cast<double>(chunk_start_.size() + electrode_chunk_start_.size()) / rows : 0.0;
}

void HopRates::set_voltages(const std::vector<double>& voltages_v) {
  const std::vector<double> constant = model_.constant_energies_kt(voltages_v);  // checks the size
  for (int s = 0; s < n_; ++s) constant_kt_[s] = constant[site_of_slot_[s]];
  voltage_kt_.resize(p_);
  for (int k = 0; k < p_; ++k) voltage_kt_[k] = model_.volts_to_kt(voltages_v[k]);

  // Every ε_i lies in [c_i − Σ_j U_ij, c_i] whatever the occupation; ρ is the middle of that
  // range (with the electrode energies).
  double lo = INFINITY, hi = -INFINITY;
  for (int s = 0; s < n_; ++s) {
    lo = std::min(lo, constant_kt_[s] - interaction_sum_[s]);
    hi = std::max(hi, constant_kt_[s]);
  }
  for (int k : electrode_ids_) {
    lo = std::min(lo, voltage_kt_[k]);
    hi = std::max(hi, voltage_kt_[k]);
  }
  reference_ = 0.5 * (lo + hi);
  fast_ = arithmetic_ == Arithmetic::automatic && hi - lo < kMaxSpread && interaction_max_ < kMaxSpread;
  out_factor_.assign(p_, 0.0);
  in_factor_.assign(p_, 0.0);
  for (int k = 0; k < p_; ++k) {
    out_factor_[k] = fast_ ? std::exp(reference_ - voltage_kt_[k]) : 0.0;
    in_factor_[k] = fast_ ? std::exp(voltage_kt_[k] - reference_) : 0.0;
  }
  voltages_set_ = true;
  refresh();
}

void HopRates::set_occupation(const Occupation& occupation) {
  if (static_cast<int>(occupation.size()) != n_)
    throw ArgumentError("expected an occupation of " + std::to_string(n_) + " acceptors, got " +
                        std::to_string(occupation.size()));
  holes_.clear();
  empties_.clear();
  for (int s = 0; s < n_; ++s) {
    occupied_[s] = occupation[site_of_slot_[s]] ? 1 : 0;
    sign_[s] = occupied_[s] ? 1.0 : -1.0;
    auto& list = occupied_[s] ? holes_ : empties_;
    position_[s] = static_cast<int>(list.size());
    list.push_back(s);
  }
  if (voltages_set_) refresh();
}

void HopRates::compute_energies() {
  for (int s = 0; s < n_; ++s) energies_[s] = constant_kt_[s];
  for (int j : empties_) {
    const double* u = &u_[static_cast<std::size_t>(j) * stride_];
    for (int s = 0; s < n_; ++s) energies_[s] -= u[s];  // U_jj = 0
  }
}

void HopRates::set_factors() {
  std::fill(f_.begin(), f_.end(), 0.0);
  std::fill(g_.begin(), g_.end(), 0.0);
  for (int s = 0; s < n_; ++s) {
    const double e = energies_[s] - reference_;
    if (occupied_[s])
      g_[s] = std::exp(e);
    else
      f_[s] = std::exp(-e);
  }
}

void HopRates::refresh() {
  compute_energies();
  if (fast_) set_factors();
}

std::vector<double> HopRates::site_energies_kt() const {
  std::vector<double> e(constant_kt_);
  for (int j : empties_)
    for (int s = 0; s < n_; ++s) e[s] -= u_[static_cast<std::size_t>(j) * stride_ + s];
  std::vector<double> out(n_);
  for (int s = 0; s < n_; ++s) out[site_of_slot_[s]] = e[s];
  return out;
}

Occupation HopRates::occupation() const {
  Occupation out(n_);
  for (int s = 0; s < n_; ++s) out[site_of_slot_[s]] = occupied_[s];
  return out;
}

double HopRates::compute() {
  by_empty_ = empties_.size() <= holes_.size();
  const std::vector<int>& visited = by_empty_ ? empties_ : holes_;
  const int visited_count = static_cast<int>(visited.size());
  const int electrodes = static_cast<int>(electrode_ids_.size());
  segment_count_ = visited_count + electrodes;
  std::fill(flux_.begin(), flux_.end(), 0.0);
  double total = 0;
  if (fast_) {
    PassInput in{};
    in.rows = rows_.data();
    in.chunk_start = chunk_start_.data();
    in.values = pair_values_.data();
    in.sites = visited.data();
    in.site_count = visited_count;
    in.vec = by_empty_ ? g_.data() : f_.data();
    in.scalars = by_empty_ ? f_.data() : g_.data();
    in.electrode_rows = electrode_rows_.data();
    in.electrode_chunk_start = electrode_chunk_start_.data();
    in.electrode_w = electrode_w_.data();
    in.electrode_ids = electrode_ids_.data();
    in.electrode_count = electrodes;
    in.g = g_.data();
    in.f = f_.data();
    in.sign = sign_.data();
    in.out_factor = out_factor_.data();
    in.in_factor = in_factor_.data();
    total = fast_pass(in, sums_.data(), flux_.data());
  } else {
    double lanes[4] = {};
    for (int s = 0; s < segment_count_; ++s) {
      const int length = segment_rates(s);
      double a[4] = {}, d[4] = {};
      for (int t = 0; t < length; ++t) {
        a[t % 4] += scratch_[t];
        if (s >= visited_count && scratch_[t] > 0)
          d[t % 4] += decode(s, t).to >= n_ ? scratch_[t] : -scratch_[t];
      }
      for (int l = 0; l < 4; ++l) {
        sums_[4 * s + l] = a[l];
        lanes[l] += a[l];
      }
      if (s >= visited_count) flux_[electrode_ids_[s - visited_count]] = reduce4(d);
    }
    total = reduce4(lanes);
  }
  total_ = total;
  return total;
}

int HopRates::segment_rates(int segment) {
  const std::vector<int>& visited = by_empty_ ? empties_ : holes_;
  const int visited_count = static_cast<int>(visited.size());
  const bool electrode = segment >= visited_count;
  const int e = segment - visited_count;
  const int slot = electrode ? -1 : visited[segment];
  const Row row = electrode ? electrode_rows_[e] : rows_[slot];
  const int* start = (electrode ? electrode_chunk_start_ : chunk_start_).data() + row.first_chunk;
  const int length = 4 * row.chunk_count;
  if (fast_) {
    if (electrode) {
      const int k = electrode_ids_[e];
      electrode_rates(start, &electrode_w_[4 * row.first_chunk], row.chunk_count, g_.data(), f_.data(),
                      out_factor_[k], in_factor_[k], scratch_.data());
    } else {
      pair_rates(start, &pair_values_[8 * row.first_chunk], row.chunk_count, by_empty_ ? g_.data() : f_.data(),
                 by_empty_ ? f_[slot] : g_[slot], scratch_.data());
    }
    return length;
  }
  for (int t = 0; t < length; ++t) {
    const int other = start[t / 4] + t % 4;
    double r = 0;
    if (electrode) {
      const int k = electrode_ids_[e];
      const double w = electrode_w_[4 * row.first_chunk + t];
      if (w > 0)
        r = occupied_[other] ? exact_rate(w, voltage_kt_[k] - energies_[other])
                             : exact_rate(w, energies_[other] - voltage_kt_[k]);
    } else {
      const double w = pair_values_[8 * (row.first_chunk + t / 4) + t % 4];
      if (w > 0 && occupied_[other] != occupied_[slot]) {
        const int from = by_empty_ ? other : slot, to = by_empty_ ? slot : other;
        r = exact_rate(w, energies_[to] - energies_[from] - u_[static_cast<std::size_t>(from) * stride_ + to]);
      }
    }
    scratch_[t] = r;
  }
  return length;
}

Hop HopRates::decode(int segment, int position) const {
  const std::vector<int>& visited = by_empty_ ? empties_ : holes_;
  const int visited_count = static_cast<int>(visited.size());
  if (segment >= visited_count) {
    const int e = segment - visited_count;
    const int slot = electrode_chunk_start_[electrode_rows_[e].first_chunk + position / 4] + position % 4;
    const int site = site_of_slot_[slot], endpoint = n_ + electrode_ids_[e];
    return occupied_[slot] ? Hop{site, endpoint} : Hop{endpoint, site};
  }
  const int self = visited[segment];
  const int slot = chunk_start_[rows_[self].first_chunk + position / 4] + position % 4;
  const int other = site_of_slot_[slot];
  return by_empty_ ? Hop{other, site_of_slot_[self]} : Hop{site_of_slot_[self], other};
}

Hop HopRates::select(double r) {
  int chosen = -1;
  for (int s = 0; s < segment_count_; ++s) {
    const double sum = reduce4(&sums_[4 * s]);
    if (sum <= 0) continue;
    chosen = s;
    if (r < sum) break;
    r -= sum;
  }
  if (chosen < 0) throw Error("cannot choose a hop: no hop is possible in this state");
  const int length = segment_rates(chosen);
  // The chunk holding r (chunk sums are independent, so only the walk over chunks is a
  // chain), then the hop within it; a rate of 0 is never picked.
  const int chunks = length / 4;
  double acc = 0;
  int c = 0;
  for (; c + 1 < chunks; ++c) {
    const double sum = reduce4(&scratch_[4 * c]);
    if (r < acc + sum) break;
    acc += sum;
  }
  double rest = r - acc;
  int pick = -1;
  bool found = false;
  for (int t = 4 * c; t < 4 * c + 4 && !found; ++t) {
    if (scratch_[t] <= 0) continue;
    pick = t;
    found = rest < scratch_[t];
    rest -= scratch_[t];
  }
  if (pick < 0) {
    // Rounding carried r past the last positive rate of the row: take that one.
    pick = length - 1;
    while (pick > 0 && scratch_[pick] <= 0) --pick;
  }
  return decode(chosen, pick);
}

void HopRates::flip(int slot) {
  auto& from = occupied_[slot] ? holes_ : empties_;
  auto& to = occupied_[slot] ? empties_ : holes_;
  const int at = position_[slot];
  from[at] = from.back();
  position_[from[at]] = at;
  from.pop_back();
  position_[slot] = static_cast<int>(to.size());
  to.push_back(slot);
  occupied_[slot] ^= 1;
  sign_[slot] = -sign_[slot];
  if (fast_) {
    // The factor of the state the site leaves holds its updated exponential.
    if (occupied_[slot]) {
      g_[slot] = 1.0 / f_[slot];
      f_[slot] = 0.0;
    } else {
      f_[slot] = 1.0 / g_[slot];
      g_[slot] = 0.0;
    }
  }
}

void HopRates::apply(Hop hop) {
  const int a = hop.from < n_ ? slot_of_site_[hop.from] : -1;
  const int b = hop.to < n_ ? slot_of_site_[hop.to] : -1;
  const auto row = [&](const std::vector<double>& m, int s) { return &m[static_cast<std::size_t>(s) * stride_]; };
  // Emptying a: ε_k −= U_ka (f gains e^{+U}, g e^{−U}); filling b: ε_k += U_kb.
  if (fast_) {
    if (a >= 0 && b >= 0)
      scale2(f_.data(), g_.data(), row(exp_u_, a), row(exp_minus_u_, b), row(exp_minus_u_, a), row(exp_u_, b),
             stride_);
    else if (a >= 0)
      scale1(f_.data(), g_.data(), row(exp_u_, a), row(exp_minus_u_, a), stride_);
    else
      scale1(f_.data(), g_.data(), row(exp_minus_u_, b), row(exp_u_, b), stride_);
  } else {
    if (a >= 0) {
      const double* u = row(u_, a);
      for (int k = 0; k < n_; ++k) energies_[k] -= u[k];
    }
    if (b >= 0) {
      const double* u = row(u_, b);
      for (int k = 0; k < n_; ++k) energies_[k] += u[k];
    }
  }
  if (a >= 0) flip(a);
  if (b >= 0) flip(b);
}

std::vector<HoppingModel::Event> HopRates::events() {
  std::vector<HoppingModel::Event> out;
  for (int s = 0; s < segment_count_; ++s) {
    const int length = segment_rates(s);
    for (int t = 0; t < length; ++t)
      if (scratch_[t] > 0) {
        const Hop hop = decode(s, t);
        out.push_back({hop.from, hop.to, scratch_[t]});
      }
  }
  return out;
}

}  // namespace brains::physics::detail
