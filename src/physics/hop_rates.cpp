#include "hop_rates.h"

#include <algorithm>
#include <cmath>
#include <numeric>
#include <string>

#include "brains/core/error.h"

// The passes over all rates are written once, for a chunk type V, and compiled three times:
// for AVX-512 with V one 8-double register, and for AVX2 and the baseline with V two 4-double
// halves (a generic 8-double vector would be split element by element there). The version
// is picked once at load time. All give bit-identical results: every sum keeps 8 explicit
// partial sums reduced in a fixed order, and no operation is reassociated (the only a·b + c
// forms multiply by ±1 or add an exact 0, so a fused multiply-add gives the same bits).
#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define BRAINS_MULTIVERSION 1
#define BRAINS_INLINE inline __attribute__((always_inline))
#pragma GCC diagnostic ignored "-Wpsabi"  // wide vectors appear only in inlined helpers
#else
#define BRAINS_MULTIVERSION 0
#define BRAINS_INLINE inline
#endif

namespace brains::physics::detail {

namespace {

// The factors of two sites (or a site and an electrode) multiply to exp(ε_i − ε_j); while
// every energy of a state lies within this many kT of every other, no such product
// overflows (so no 0 · ∞ can arise either) and the fast arithmetic applies.
constexpr double kMaxSpread = 700;

int round_up(int n, int m) { return (n + m - 1) / m * m; }

static_assert(kChunk == 8, "the kernels below work on chunks of 8 doubles");

// A chunk as one vector (AVX-512) or as two halves (AVX2, baseline). Element-wise IEEE
// arithmetic either way.
typedef double v8d __attribute__((vector_size(64)));
typedef std::int64_t v8i __attribute__((vector_size(64)));
typedef double v8d_unaligned __attribute__((vector_size(64), aligned(8), may_alias));
typedef double v4d __attribute__((vector_size(32)));
typedef std::int64_t v4i __attribute__((vector_size(32)));
typedef double v4d_unaligned __attribute__((vector_size(32), aligned(8), may_alias));
struct Halves {
  v4d lo, hi;  // lanes 0–3 and 4–7
};
BRAINS_INLINE Halves operator+(const Halves& a, const Halves& b) { return {a.lo + b.lo, a.hi + b.hi}; }
BRAINS_INLINE Halves operator*(const Halves& a, const Halves& b) { return {a.lo * b.lo, a.hi * b.hi}; }
BRAINS_INLINE Halves& operator+=(Halves& a, const Halves& b) {
  a.lo += b.lo;
  a.hi += b.hi;
  return a;
}

template <typename V>
BRAINS_INLINE V load(const double* p);
template <>
BRAINS_INLINE v8d load<v8d>(const double* p) { return *reinterpret_cast<const v8d_unaligned*>(p); }
template <>
BRAINS_INLINE Halves load<Halves>(const double* p) {
  return {*reinterpret_cast<const v4d_unaligned*>(p), *reinterpret_cast<const v4d_unaligned*>(p + 4)};
}
BRAINS_INLINE void store(double* p, const v8d& v) { *reinterpret_cast<v8d_unaligned*>(p) = v; }
BRAINS_INLINE void store(double* p, const Halves& v) {
  *reinterpret_cast<v4d_unaligned*>(p) = v.lo;
  *reinterpret_cast<v4d_unaligned*>(p + 4) = v.hi;
}
template <typename V>
BRAINS_INLINE V splat(double x);
template <>
BRAINS_INLINE v8d splat<v8d>(double x) { return __builtin_shuffle(v8d{x}, v8i{}); }
template <>
BRAINS_INLINE Halves splat<Halves>(double x) {
  const v4d v = __builtin_shuffle(v4d{x}, v4i{});
  return {v, v};
}
BRAINS_INLINE v8d vmin(const v8d& x, const v8d& w) { return x < w ? x : w; }
BRAINS_INLINE Halves vmin(const Halves& x, const Halves& w) {
  return {x.lo < w.lo ? x.lo : w.lo, x.hi < w.hi ? x.hi : w.hi};
}

// The sum of a chunk's lanes in the one order every build uses:
// ((a0 + a1) + (a2 + a3)) + ((a4 + a5) + (a6 + a7)).
BRAINS_INLINE double reduce(const double* a) {
  return ((a[0] + a[1]) + (a[2] + a[3])) + ((a[4] + a[5]) + (a[6] + a[7]));
}
// The same sum by shuffles, without a round trip through memory.
BRAINS_INLINE double reduce(const v8d& lanes) {
  v8d v = lanes;
  v += __builtin_shuffle(v, v8i{1, 0, 3, 2, 5, 4, 7, 6});  // lane 2l: a_2l + a_2l+1
  v += __builtin_shuffle(v, v8i{2, 3, 0, 1, 6, 7, 4, 5});  // lanes 0 and 4: sums of 4
  v += __builtin_shuffle(v, v8i{4, 5, 6, 7, 0, 1, 2, 3});  // lane 0: the whole sum
  return v[0];
}
BRAINS_INLINE double reduce(const Halves& lanes) {
  v4d lo = lanes.lo, hi = lanes.hi;
  lo += __builtin_shuffle(lo, v4i{1, 0, 3, 2});
  hi += __builtin_shuffle(hi, v4i{1, 0, 3, 2});
  lo += __builtin_shuffle(lo, v4i{2, 3, 0, 1});
  hi += __builtin_shuffle(hi, v4i{2, 3, 0, 1});
  return lo[0] + hi[0];
}

// Σ over a row's chunks of min(w, (vec · scalar) · W), as 8 partial sums (even chunks into
// one set, odd into another, added at the end).
template <typename V>
BRAINS_INLINE V pair_row(const int* __restrict start, const double* __restrict values, int count,
                           const double* __restrict vec, double scalar) {
  V a = splat<V>(0), b = splat<V>(0);
  const V s = splat<V>(scalar);
  int c = 0;
  for (; c + 2 <= count; c += 2) {
    const double* __restrict x = values + 2 * kChunk * c;
    a += vmin((load<V>(vec + start[c]) * s) * load<V>(x + kChunk), load<V>(x));
    b += vmin((load<V>(vec + start[c + 1]) * s) * load<V>(x + 3 * kChunk), load<V>(x + 2 * kChunk));
  }
  if (c < count) {
    const double* __restrict x = values + 2 * kChunk * c;
    a += vmin((load<V>(vec + start[c]) * s) * load<V>(x + kChunk), load<V>(x));
  }
  return a + b;
}

// An electrode's row: out of occupied sites, into empty ones. Exactly one of g_i, f_i is
// non-zero, so (g_i·e^{ρ−eV} + f_i·e^{eV−ρ})·w is the rate's argument either way; `sign` is +1
// for occupied sites (out of the device) and −1 for empty ones, giving net = out − in.
template <typename V>
BRAINS_INLINE V electrode_row(const int* __restrict start, const double* __restrict w, int count,
                                const double* __restrict g, const double* __restrict f,
                                const double* __restrict sign, double out_factor, double in_factor,
                                double* __restrict net) {
  V a = splat<V>(0), d = splat<V>(0);
  const V so = splat<V>(out_factor), si = splat<V>(in_factor);
  for (int c = 0; c < count; ++c) {
    const V wc = load<V>(w + kChunk * c);
    const V r = vmin((load<V>(g + start[c]) * so + load<V>(f + start[c]) * si) * wc, wc);
    a += r;
    d += r * load<V>(sign + start[c]);
  }
  *net = reduce(d);
  return a;
}

struct PassInput {
  const Row* rows;
  const int* chunk_start;
  const double* values;
  const int* sites;         // visited slots, grouped by row length
  const int* bucket_begin;  // bucket b: sites[bucket_begin[b] .. bucket_begin[b + 1])
  int bucket_count;
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

// Rows whose chunk count is at most this are visited by loops unrolled for that count.
constexpr int kMaxUnrolled = 16;

// The rows of sites[first .. last), each of L chunks (L = 0: read from the row): each row's
// sum is added to `total`, whose running value is stored at prefix[i − base].
template <typename V, int L>
BRAINS_INLINE void pair_rows(const PassInput& in, int first, int last, int base, double& total,
                             double* __restrict prefix) {
  for (int i = first; i < last; ++i) {
    const int slot = in.sites[i];
    const Row row = in.rows[slot];
    total += reduce(pair_row<V>(in.chunk_start + row.first_chunk, in.values + 2 * kChunk * row.first_chunk,
                              L > 0 ? L : row.chunk_count, in.vec, in.scalars[slot]));
    prefix[i - base] = total;
  }
}

template <typename V, int L>
BRAINS_INLINE double electrode_rows(const PassInput& in, int e, double* __restrict flux) {
  const Row row = in.electrode_rows[e];
  const int k = in.electrode_ids[e];
  return reduce(electrode_row<V>(in.electrode_chunk_start + row.first_chunk, in.electrode_w + kChunk * row.first_chunk,
                               L > 0 ? L : row.chunk_count, in.g, in.f, in.sign, in.out_factor[k],
                               in.in_factor[k], &flux[k]));
}

#define BRAINS_UNROLLED_CASES(CALL) \
  CALL(1) CALL(2) CALL(3) CALL(4) CALL(5) CALL(6) CALL(7) CALL(8) CALL(9) CALL(10) CALL(11) CALL(12) CALL(13) \
  CALL(14) CALL(15) CALL(16)

// One pass over every rate: the running total after each visited site with partners and
// each electrode (the prefix that select() searches), the electrode fluxes, and the total.
template <typename V>
BRAINS_INLINE double fast_pass_impl(const PassInput& in, double* __restrict prefix, double* __restrict flux) {
  static_assert(kMaxUnrolled == 16, "BRAINS_UNROLLED_CASES lists 1..kMaxUnrolled");
  double total = 0;
  const int base = in.bucket_begin[1];  // rows of 0 chunks add nothing and are skipped
  for (int b = 1; b < in.bucket_count; ++b) {
    const int first = in.bucket_begin[b], last = in.bucket_begin[b + 1];
    if (first == last) continue;
    switch (b) {
#define BRAINS_PAIR_CASE(L)                                    \
  case L:                                                      \
    pair_rows<V, L>(in, first, last, base, total, prefix); \
    break;
      BRAINS_UNROLLED_CASES(BRAINS_PAIR_CASE)
#undef BRAINS_PAIR_CASE
      default:
        pair_rows<V, 0>(in, first, last, base, total, prefix);
    }
  }
  const int visited = in.bucket_begin[in.bucket_count] - base;
  for (int e = 0; e < in.electrode_count; ++e) {
    switch (in.electrode_rows[e].chunk_count) {
#define BRAINS_ELECTRODE_CASE(L)               \
  case L:                                      \
    total += electrode_rows<V, L>(in, e, flux); \
    break;
      BRAINS_UNROLLED_CASES(BRAINS_ELECTRODE_CASE)
#undef BRAINS_ELECTRODE_CASE
      default:
        total += electrode_rows<V, 0>(in, e, flux);
    }
    prefix[visited + e] = total;
  }
  return total;
}

// The rates of one row, one per slot of its chunks (for picking the hop in that row).
template <typename V>
BRAINS_INLINE void pair_rates_impl(const int* __restrict start, const double* __restrict values, int count,
                const double* __restrict vec, double scalar, double* __restrict out) {
  const V s = splat<V>(scalar);
  for (int c = 0; c < count; ++c) {
    const double* __restrict x = values + 2 * kChunk * c;
    store(out + kChunk * c, vmin((load<V>(vec + start[c]) * s) * load<V>(x + kChunk), load<V>(x)));
  }
}

template <typename V>
BRAINS_INLINE void electrode_rates_impl(const int* __restrict start, const double* __restrict w, int count, const double* __restrict g,
                     const double* __restrict f, double out_factor, double in_factor, double* __restrict out) {
  const V so = splat<V>(out_factor), si = splat<V>(in_factor);
  for (int c = 0; c < count; ++c) {
    const V wc = load<V>(w + kChunk * c);
    store(out + kChunk * c, vmin((load<V>(g + start[c]) * so + load<V>(f + start[c]) * si) * wc, wc));
  }
}

// The lane of the hop at `rest` among a chunk's rates: the first positive rate whose running
// sum exceeds `rest`, else the last positive one (rounding), else −1 (no positive rate).
template <typename V>
BRAINS_INLINE int pick_lane(const V& rates, double rest) {
  double r[kChunk];
  store(r, rates);
  int pick = -1;
  for (int t = 0; t < kChunk; ++t) {
    if (r[t] <= 0) continue;
    pick = t;
    if (rest < r[t]) break;
    rest -= r[t];
  }
  return pick;
}

// The position (chunk · kChunk + lane) in a row of the hop at `rest` ∈ [0, row sum), from
// the rates computed chunk by chunk; −1 when rounding left no positive rate in the last chunk.
template <typename V>
BRAINS_INLINE int pick_pair_impl(const int* __restrict start, const double* __restrict values, int count,
              const double* __restrict vec, double scalar, double rest) {
  const V s = splat<V>(scalar);
  for (int c = 0;; ++c) {
    const double* __restrict x = values + 2 * kChunk * c;
    const V r = vmin((load<V>(vec + start[c]) * s) * load<V>(x + kChunk), load<V>(x));
    const double sum = reduce(r);
    if (rest < sum || c + 1 == count) {
      const int lane = pick_lane(r, rest);
      return lane < 0 ? -1 : kChunk * c + lane;
    }
    rest -= sum;
  }
}

template <typename V>
BRAINS_INLINE int pick_electrode_impl(const int* __restrict start, const double* __restrict w, int count,
                   const double* __restrict g, const double* __restrict f, double out_factor,
                   double in_factor, double rest) {
  const V so = splat<V>(out_factor), si = splat<V>(in_factor);
  for (int c = 0;; ++c) {
    const V wc = load<V>(w + kChunk * c);
    const V r = vmin((load<V>(g + start[c]) * so + load<V>(f + start[c]) * si) * wc, wc);
    const double sum = reduce(r);
    if (rest < sum || c + 1 == count) {
      const int lane = pick_lane(r, rest);
      return lane < 0 ? -1 : kChunk * c + lane;
    }
    rest -= sum;
  }
}

// f *= fa·fb, g *= ga·gb over `length` (a multiple of 8) values.
template <typename V>
BRAINS_INLINE void scale2_impl(double* __restrict f, double* __restrict g, const double* __restrict fa,
            const double* __restrict fb, const double* __restrict ga, const double* __restrict gb,
            int length) {
  for (int k = 0; k < length; k += kChunk) {
    store(f + k, load<V>(f + k) * (load<V>(fa + k) * load<V>(fb + k)));
    store(g + k, load<V>(g + k) * (load<V>(ga + k) * load<V>(gb + k)));
  }
}

template <typename V>
BRAINS_INLINE void scale1_impl(double* __restrict f, double* __restrict g, const double* __restrict fa,
            const double* __restrict ga, int length) {
  for (int k = 0; k < length; k += kChunk) {
    store(f + k, load<V>(f + k) * load<V>(fa + k));
    store(g + k, load<V>(g + k) * load<V>(ga + k));
  }
}

// The entry points, one version per instruction set.
#if BRAINS_MULTIVERSION
#define BRAINS_VERSIONS(RET, NAME, PARAMS, ARGS)                                                  \
  __attribute__((target("default"))) RET NAME PARAMS { return NAME##_impl<Halves> ARGS; }        \
  __attribute__((target("avx2"))) RET NAME PARAMS { return NAME##_impl<Halves> ARGS; }           \
  __attribute__((target("avx512f"))) RET NAME PARAMS { return NAME##_impl<v8d> ARGS; }
#else
#define BRAINS_VERSIONS(RET, NAME, PARAMS, ARGS) \
  RET NAME PARAMS { return NAME##_impl<Halves> ARGS; }
#endif

BRAINS_VERSIONS(double, fast_pass, (const PassInput& in, double* prefix, double* flux), (in, prefix, flux))
BRAINS_VERSIONS(void, pair_rates,
                (const int* start, const double* values, int count, const double* vec, double scalar, double* out),
                (start, values, count, vec, scalar, out))
BRAINS_VERSIONS(void, electrode_rates,
                (const int* start, const double* w, int count, const double* g, const double* f, double out_factor,
                 double in_factor, double* out),
                (start, w, count, g, f, out_factor, in_factor, out))
BRAINS_VERSIONS(int, pick_pair,
                (const int* start, const double* values, int count, const double* vec, double scalar, double rest),
                (start, values, count, vec, scalar, rest))
BRAINS_VERSIONS(int, pick_electrode,
                (const int* start, const double* w, int count, const double* g, const double* f, double out_factor,
                 double in_factor, double rest),
                (start, w, count, g, f, out_factor, in_factor, rest))
BRAINS_VERSIONS(void, scale2,
                (double* f, double* g, const double* fa, const double* fb, const double* ga, const double* gb,
                 int length),
                (f, g, fa, fb, ga, gb, length))
BRAINS_VERSIONS(void, scale1, (double* f, double* g, const double* fa, const double* ga, int length),
                (f, g, fa, ga, length))
#undef BRAINS_VERSIONS

inline double exact_rate(double w, double delta) { return w * (delta > 0 ? std::exp(-delta) : 1.0); }

// The chunks holding the given slots (sorted, distinct).
std::vector<int> chunks_of(std::vector<int> slots) {
  for (int& s : slots) s = s / kChunk * kChunk;
  std::sort(slots.begin(), slots.end());
  slots.erase(std::unique(slots.begin(), slots.end()), slots.end());
  return slots;
}

}  // namespace

void SlotBuckets::reset(int buckets) {
  slots_.clear();
  begin_.assign(static_cast<std::size_t>(buckets) + 1, 0);
}

void SlotBuckets::insert(int slot, int bucket, std::vector<int>& position) {
  // Open a place at the end and move it down to the end of `bucket`: each bucket above gives
  // its first slot to the place after its last.
  int free = size();
  slots_.push_back(slot);
  for (int b = bucket_count() - 1; b > bucket; --b) {
    const int first = begin_[b];
    if (first != free) {
      slots_[free] = slots_[first];
      position[slots_[free]] = free;
    }
    free = first;
    ++begin_[b];
  }
  ++begin_.back();
  slots_[free] = slot;
  position[slot] = free;
}

void SlotBuckets::erase(int slot, int bucket, std::vector<int>& position) {
  // The last slot of `bucket` fills the place; the place left at its end moves up: each bucket
  // above gives its last slot to the place before its first.
  const int at = position[slot];
  int free = begin_[bucket + 1] - 1;
  if (at != free) {
    slots_[at] = slots_[free];
    position[slots_[at]] = at;
  }
  for (int b = bucket + 1; b < bucket_count(); ++b) {
    const int last = begin_[b + 1] - 1;
    if (last != free) {
      slots_[free] = slots_[last];
      position[slots_[free]] = free;
    }
    free = last;
    --begin_[b];
  }
  slots_.pop_back();
  --begin_.back();
}

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
    const int per_chunk = pair_row ? 2 * kChunk : kChunk;
    Row row{static_cast<int>(starts.size()), 0};
    for (int start : chunks_of(slots)) {
      starts.push_back(start);
      values.insert(values.end(), per_chunk, 0.0);
      ++row.chunk_count;
    }
    for (const auto& [site, factor] : list) {
      const int slot = slot_of_site_[site];
      const auto chunk = std::lower_bound(starts.begin() + row.first_chunk, starts.end(), slot / kChunk * kChunk) -
                         starts.begin();
      const std::size_t at = static_cast<std::size_t>(chunk) * per_chunk + slot % kChunk;
      values[at] = factor;
      if (pair_row) values[at + kChunk] = factor * std::exp(model.interaction_kt(self_site, site));
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
  // Electrodes are visited shortest row first, so rows of equal length follow each other.
  std::vector<int> by_length(electrode_ids_.size());
  std::iota(by_length.begin(), by_length.end(), 0);
  std::stable_sort(by_length.begin(), by_length.end(), [&](int x, int y) {
    return electrode_rows_[x].chunk_count < electrode_rows_[y].chunk_count;
  });
  {
    std::vector<int> ids;
    std::vector<Row> rows;
    for (int e : by_length) {
      ids.push_back(electrode_ids_[e]);
      rows.push_back(electrode_rows_[e]);
    }
    electrode_ids_ = ids;
    electrode_rows_ = rows;
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

  prefix_.assign(n_ + electrode_ids_.size(), 0.0);
  flux_.assign(p_, 0.0);
  int longest = 0;
  for (const Row& row : rows_) longest = std::max(longest, kChunk * row.chunk_count);
  for (const Row& row : electrode_rows_) longest = std::max(longest, kChunk * row.chunk_count);
  scratch_.assign(longest, 0.0);

  f_.assign(stride_, 0.0);
  g_.assign(stride_, 0.0);
  sign_.assign(stride_, 0.0);
  energies_.assign(n_, 0.0);
  constant_kt_.assign(n_, 0.0);
  occupied_.assign(n_, 0);
  position_.assign(n_, 0);
  int longest_row = 0;
  for (const Row& row : rows_) longest_row = std::max(longest_row, row.chunk_count);
  holes_.reset(longest_row + 1);
  empties_.reset(longest_row + 1);
  set_occupation(Occupation(n_, 0));
  set_voltages(std::vector<double>(p_, 0.0));
}

double HopRates::mean_row_length() const {
  const std::size_t rows = rows_.size() + electrode_rows_.size();
  return rows ? kChunk * static_cast<double>(chunk_start_.size() + electrode_chunk_start_.size()) / rows : 0.0;
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
  holes_.reset(holes_.bucket_count());
  empties_.reset(empties_.bucket_count());
  for (int s = 0; s < n_; ++s) {
    occupied_[s] = occupation[site_of_slot_[s]] ? 1 : 0;
    sign_[s] = occupied_[s] ? 1.0 : -1.0;
    (occupied_[s] ? holes_ : empties_).insert(s, rows_[s].chunk_count, position_);
  }
  if (voltages_set_) refresh();
}

void HopRates::compute_energies() {
  for (int s = 0; s < n_; ++s) energies_[s] = constant_kt_[s];
  for (int j : empties_.slots()) {
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
  for (int j : empties_.slots())
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
  const SlotBuckets& visited = by_empty_ ? empties_ : holes_;
  visited_count_ = visited.size() - visited.begin(1);
  const int visited_count = visited_count_;
  const int electrodes = static_cast<int>(electrode_ids_.size());
  segment_count_ = visited_count + electrodes;
  std::fill(flux_.begin(), flux_.end(), 0.0);
  double total = 0;
  if (fast_) {
    PassInput in{};
    in.rows = rows_.data();
    in.chunk_start = chunk_start_.data();
    in.values = pair_values_.data();
    in.sites = visited.slots().data();
    in.bucket_begin = visited.begins();
    in.bucket_count = visited.bucket_count();
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
    total = fast_pass(in, prefix_.data(), flux_.data());
  } else {
    // The same lanes as the fast pass (a chunk's slot l adds into lane l).
    for (int s = 0; s < segment_count_; ++s) {
      const int length = segment_rates(s);
      double a[kChunk] = {}, d[kChunk] = {};
      for (int t = 0; t < length; ++t) {
        a[t % kChunk] += scratch_[t];
        if (s >= visited_count && scratch_[t] > 0)
          d[t % kChunk] += decode(s, t).to >= n_ ? scratch_[t] : -scratch_[t];
      }
      total += reduce(a);
      prefix_[s] = total;
      if (s >= visited_count) flux_[electrode_ids_[s - visited_count]] = reduce(d);
    }
  }
  total_ = total;
  return total;
}

int HopRates::visited_slot(int segment) const {
  const SlotBuckets& visited = by_empty_ ? empties_ : holes_;
  return visited.slots()[visited.begin(1) + segment];
}

int HopRates::segment_rates(int segment) {
  const bool electrode = segment >= visited_count_;
  const int e = segment - visited_count_;
  const int slot = electrode ? -1 : visited_slot(segment);
  const Row row = electrode ? electrode_rows_[e] : rows_[slot];
  const int* start = (electrode ? electrode_chunk_start_ : chunk_start_).data() + row.first_chunk;
  const int length = kChunk * row.chunk_count;
  if (fast_) {
    if (electrode) {
      const int k = electrode_ids_[e];
      electrode_rates(start, &electrode_w_[kChunk * row.first_chunk], row.chunk_count, g_.data(), f_.data(),
                      out_factor_[k], in_factor_[k], scratch_.data());
    } else {
      pair_rates(start, &pair_values_[2 * kChunk * row.first_chunk], row.chunk_count, by_empty_ ? g_.data() : f_.data(),
                 by_empty_ ? f_[slot] : g_[slot], scratch_.data());
    }
    return length;
  }
  for (int t = 0; t < length; ++t) {
    const int other = start[t / kChunk] + t % kChunk;
    double r = 0;
    if (electrode) {
      const int k = electrode_ids_[e];
      const double w = electrode_w_[kChunk * row.first_chunk + t];
      if (w > 0)
        r = occupied_[other] ? exact_rate(w, voltage_kt_[k] - energies_[other])
                             : exact_rate(w, energies_[other] - voltage_kt_[k]);
    } else {
      const double w = pair_values_[2 * kChunk * (row.first_chunk + t / kChunk) + t % kChunk];
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
  if (segment >= visited_count_) {
    const int e = segment - visited_count_;
    const int slot = electrode_chunk_start_[electrode_rows_[e].first_chunk + position / kChunk] + position % kChunk;
    const int site = site_of_slot_[slot], endpoint = n_ + electrode_ids_[e];
    return occupied_[slot] ? Hop{site, endpoint} : Hop{endpoint, site};
  }
  const int self = visited_slot(segment);
  const int slot = chunk_start_[rows_[self].first_chunk + position / kChunk] + position % kChunk;
  const int other = site_of_slot_[slot];
  return by_empty_ ? Hop{other, site_of_slot_[self]} : Hop{site_of_slot_[self], other};
}

Hop HopRates::select(double r) {
  const double total = segment_count_ > 0 ? prefix_[segment_count_ - 1] : 0.0;
  if (!(total > 0)) throw Error("cannot choose a hop: no hop is possible in this state");
  if (!(r < total)) r = std::nextafter(total, 0.0);  // u · total can round up to total
  // The segment: the first whose running total exceeds r (a segment whose rates are all 0
  // adds nothing and is never chosen). Branch-free binary search: `base` only moves up.
  const double* prefix = prefix_.data();
  int base = 0, count = segment_count_;
  while (count > 1) {
    const int half = count / 2;
    base = prefix[base + half - 1] <= r ? base + half : base;
    count -= half;
  }
  const int chosen = base;
  double rest = r - (chosen > 0 ? prefix[chosen - 1] : 0.0);
  if (fast_) {
    // The chosen row's rates, chunk by chunk in registers.
    int position = -1;
    if (chosen < visited_count_) {
      const int slot = visited_slot(chosen);
      const Row row = rows_[slot];
      position = pick_pair(&chunk_start_[row.first_chunk], &pair_values_[2 * kChunk * row.first_chunk],
                           row.chunk_count, by_empty_ ? g_.data() : f_.data(), by_empty_ ? f_[slot] : g_[slot],
                           rest);
    } else {
      const int e = chosen - visited_count_, k = electrode_ids_[e];
      const Row row = electrode_rows_[e];
      position = pick_electrode(&electrode_chunk_start_[row.first_chunk], &electrode_w_[kChunk * row.first_chunk],
                                row.chunk_count, g_.data(), f_.data(), out_factor_[k], in_factor_[k], rest);
    }
    if (position >= 0) return decode(chosen, position);
    rest = INFINITY;  // rounding: the last positive rate of the row, found below
  }
  const int length = segment_rates(chosen);
  // The chunk holding `rest`, then the hop within it; a rate of 0 is never picked.
  const int chunks = length / kChunk;
  int c = 0;
  for (; c + 1 < chunks; ++c) {
    const double sum = reduce(&scratch_[kChunk * c]);
    if (rest < sum) break;
    rest -= sum;
  }
  int pick = -1;
  for (int t = kChunk * c; t < kChunk * (c + 1); ++t) {
    if (scratch_[t] <= 0) continue;
    pick = t;
    if (rest < scratch_[t]) break;
    rest -= scratch_[t];
  }
  if (pick < 0) {
    // Rounding carried `rest` past the last positive rate of the chunk: take the last
    // positive rate of the row.
    pick = length - 1;
    while (pick > 0 && scratch_[pick] <= 0) --pick;
  }
  return decode(chosen, pick);
}

void HopRates::flip(int slot) {
  const int bucket = rows_[slot].chunk_count;
  (occupied_[slot] ? holes_ : empties_).erase(slot, bucket, position_);
  (occupied_[slot] ? empties_ : holes_).insert(slot, bucket, position_);
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
  const auto row = [&](const AlignedVector& m, int s) { return &m[static_cast<std::size_t>(s) * stride_]; };
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
