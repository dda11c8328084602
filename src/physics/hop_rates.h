// HopRates (internal to the physics layer): the rates of every allowed hop in the current
// state, recomputed hop by hop without a fresh exponential per pair.
//
// Each acceptor carries two factors, F_j = exp(−(ε_j − ρ)) when j is empty (else 0) and
// G_i = exp(ε_i − ρ) when i holds a hole (else 0), with ρ a reference energy that keeps them
// in range. Then
//     Γ(i → j) = min(w_ij, (G_i · F_j) · W_ij),   w_ij = exp(−2 r_ij / a),  W_ij = w_ij · exp(U_ij)
//     Γ(i → k) = min(w_ik, (G_i · e^{ρ − eV_k}) · w_ik),   Γ(k → i) = min(w_ik, (F_i · e^{eV_k − ρ}) · w_ik)
// (min(1, e^{−ΔE}) written without an exponential). A hop a → b changes every ε_k by
// U_kb − U_ka, i.e. every factor by precomputed e^{±U}: two vector multiplies.
//
// Layout for speed: acceptors are stored in a spatial order (strips across the device, x
// within a strip, or the model's order if that is as good), so the partners of a site fall in
// few runs of consecutive slots; a site's row lists the aligned 8-slot chunks holding its
// partners, stored densely (zeros where a slot is not a partner) and read with plain vector
// loads — no gathers. One pass per hop visits the row of every empty site (or every occupied
// one, whichever are fewer) and of every electrode, keeping 8 partial sums (one per slot of a
// chunk) and storing their running totals after each row; select() finds the row by binary
// search on those totals and recomputes only that row's rates. The partial sums are fixed by
// position, so the AVX-512, AVX2 and baseline builds agree bit for bit.
//
// When the energies of a state span too many kT for exp() in double precision (very low
// temperature), the same passes use exact arithmetic (a std::exp per pair) instead; the
// factors are recomputed from the energies on refresh() against rounding drift.
#pragma once

#include <cstddef>
#include <cstdint>
#include <new>
#include <vector>

#include "brains/physics/model.h"

namespace brains::physics::detail {

struct Hop {
  int from = 0;  // endpoint ids as in HoppingModel
  int to = 0;
};

// Slots per chunk: one 512-bit vector of doubles.
inline constexpr int kChunk = 8;

// Storage on 64-byte boundaries: a chunk of values is whole cache lines.
template <typename T>
struct CacheAligned {
  using value_type = T;
  CacheAligned() = default;
  template <typename U>
  CacheAligned(const CacheAligned<U>&) noexcept {}
  T* allocate(std::size_t n) { return static_cast<T*>(::operator new(n * sizeof(T), std::align_val_t{64})); }
  void deallocate(T* p, std::size_t) noexcept { ::operator delete(p, std::align_val_t{64}); }
  template <typename U>
  bool operator==(const CacheAligned<U>&) const noexcept { return true; }
  template <typename U>
  bool operator!=(const CacheAligned<U>&) const noexcept { return false; }
};

// The partners of one site (or electrode) as runs of kChunk consecutive slots ("chunks"):
// chunk c covers slots [start[c], start[c] + kChunk), start[c] a multiple of kChunk. A pair row
// keeps w of the slots at 2·kChunk·c and W at 2·kChunk·c + kChunk (two cache lines); an
// electrode row keeps w at kChunk·c. Slots that are not partners hold 0.
struct Row {
  int first_chunk = 0;
  int chunk_count = 0;
};

// Slots grouped by the chunk count of their rows ("buckets"), so that a pass visits rows of
// equal length one after another: its inner loops then run a fixed number of times and their
// branches are predicted. Bucket b holds slots()[begin(b) .. begin(b + 1)); insert and erase
// move at most one slot per bucket above b and keep `position` (slot → index) current.
class SlotBuckets {
 public:
  void reset(int buckets);
  void insert(int slot, int bucket, std::vector<int>& position);
  void erase(int slot, int bucket, std::vector<int>& position);
  int size() const noexcept { return static_cast<int>(slots_.size()); }
  int bucket_count() const noexcept { return static_cast<int>(begin_.size()) - 1; }
  int begin(int bucket) const noexcept { return begin_[bucket]; }
  const std::vector<int>& slots() const noexcept { return slots_; }
  const int* begins() const noexcept { return begin_.data(); }

 private:
  std::vector<int> slots_;
  std::vector<int> begin_;  // bucket_count() + 1 entries, the last == size()
};

class HopRates {
 public:
  // The slot order: the model's (dense), spatial strips (banded), or the cheaper one.
  enum class Storage { automatic, dense, banded };
  enum class Arithmetic { automatic, exact };

  HopRates(const HoppingModel& model, Storage storage = Storage::automatic,
           Arithmetic arithmetic = Arithmetic::automatic);

  // New electrode voltages (volts, one per electrode); refreshes.
  void set_voltages(const std::vector<double>& voltages_v);
  void set_occupation(const Occupation& occupation);
  // Energies and factors from scratch.
  void refresh();

  // Every rate in the current state; returns the total (units of ν0). Also fills flux().
  double compute();
  // The hop at cumulative rate r ∈ [0, total) in the order of the last compute().
  Hop select(double r);
  void apply(Hop hop);

  // Net expected hole flux into each electrode in the state of the last compute().
  const std::vector<double>& flux() const noexcept { return flux_; }
  std::vector<HoppingModel::Event> events();  // of the last compute()
  Occupation occupation() const;
  bool occupied(int site) const noexcept { return occupied_[slot_of_site_[site]] != 0; }
  int hole_count() const noexcept { return holes_.size(); }
  std::vector<double> site_energies_kt() const;  // from scratch, model order
  bool fast() const noexcept { return fast_; }
  bool dense() const noexcept { return dense_; }
  // Mean number of values read per row (a measure of the layout's cost).
  double mean_row_length() const;

 private:
  // Rates of one segment (a site's pairs, or an electrode's sites) into scratch_; returns
  // the count written (4 per chunk).
  int segment_rates(int segment);
  Hop decode(int segment, int position) const;
  // The slot of a visited segment (segment < visited count).
  int visited_slot(int segment) const;
  void compute_energies();
  void set_factors();
  void flip(int slot);

  const HoppingModel& model_;
  int n_ = 0;       // acceptors
  int stride_ = 0;  // padded slot count; slot n_ and above are always zero
  int p_ = 0;
  bool dense_ = true;
  bool fast_ = true;
  Arithmetic arithmetic_;

  std::vector<int> site_of_slot_, slot_of_site_;
  // Pair rows (per slot) and electrode rows (per exchanging electrode electrode_ids_[e]).
  std::vector<Row> rows_;
  std::vector<int> chunk_start_;
  std::vector<double, CacheAligned<double>> pair_values_;
  std::vector<int> electrode_ids_;
  std::vector<Row> electrode_rows_;
  std::vector<int> electrode_chunk_start_;
  std::vector<double, CacheAligned<double>> electrode_w_;
  using AlignedVector = std::vector<double, CacheAligned<double>>;
  AlignedVector u_, exp_u_, exp_minus_u_;  // n_ × stride_ in slot order
  std::vector<double> interaction_sum_;          // Σ_j U_ij per slot
  double interaction_max_ = 0;

  // Voltage-dependent constants (slot order for sites).
  std::vector<double> constant_kt_;
  std::vector<double> voltage_kt_;              // per electrode, eV_k / kT
  std::vector<double> out_factor_, in_factor_;  // per electrode: e^{ρ − eV_k}, e^{eV_k − ρ}
  double reference_ = 0;  // ρ
  bool voltages_set_ = false;

  // State (slot order).
  std::vector<std::uint8_t> occupied_;
  SlotBuckets holes_, empties_;  // slots by row length
  std::vector<int> position_;    // slot → index in holes_ or empties_
  std::vector<double> energies_;      // ε (kT), kept current in exact mode
  AlignedVector f_, g_;               // masked factors, stride_ long
  AlignedVector sign_;                // +1 occupied, −1 empty, 0 padding

  // Output of compute(): per segment (visited sites first, then electrodes) the running
  // total of the rates up to and including it.
  bool by_empty_ = true;
  int visited_count_ = 0;  // rows of visited sites with at least one chunk
  int segment_count_ = 0;
  std::vector<double> prefix_;
  std::vector<double> flux_;
  std::vector<double> scratch_;
  double total_ = 0;
};

}  // namespace brains::physics::detail
