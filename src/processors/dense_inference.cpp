// Why not the module's forward: LibTorch runs each layer over the whole batch, so large
// batches fall out of cache between layers, and it spreads elementwise ops over OpenMP
// threads whose spin-waiting collapses throughput on a 2-core machine with any other load.
// Here each chunk of rows passes through all layers in two cache-resident buffers, BLAS is
// called directly, and chunks are claimed dynamically by the caller and helper tasks on
// ATen's inter-op pool (blocking waits, no spinning; a slow or busy helper costs nothing).
#include "dense_inference.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <ATen/TensorIterator.h>
#include <dlfcn.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <memory>
#include <mutex>

#include "brains/core/log.h"

namespace brains::processors {

namespace {

using Sgemm = void (*)(const char* transa, const char* transb, const int* m, const int* n,
                       const int* k, const float* alpha, const float* a, const int* lda,
                       const float* b, const int* ldb, const float* beta, float* c,
                       const int* ldc);

// The BLAS LibTorch links (OpenBLAS on Debian), found at run time so the reference BLAS works
// too. OpenBLAS's own threads inside ours would oversubscribe the cores and serialise on its
// level-3 lock; the parallelism comes from chunks, so OpenBLAS is pinned to one thread per
// call, for the whole process (as DESIGN.md asks).
Sgemm blas_sgemm() {
  static const Sgemm sgemm = [] {
    using SetThreads = void (*)(int);
    if (auto set = reinterpret_cast<SetThreads>(::dlsym(RTLD_DEFAULT, "openblas_set_num_threads"))) {
      set(1);
      log::debug("OpenBLAS pinned to one thread per call (chunk-parallel surrogate inference)");
    }
    return reinterpret_cast<Sgemm>(::dlsym(RTLD_DEFAULT, "sgemm_"));
  }();
  return sgemm;
}

// Rows per chunk: two 256×90 float activations (184 kB) stay in L2 while a chunk passes
// through every layer, and 4096 rows still make 16 chunks to balance over the threads.
// Measured on the default 5×90 model: 128 rows 3% and 512 rows 2-4% slower than 256 on one
// thread; 1024 rows and more were 15-20% slower.
constexpr std::int64_t kChunkRows = 256;

enum class Activation { relu, elu, tanh, hard_tanh, sigmoid };

Activation activation_of(const std::string& name) {
  if (name == "elu") return Activation::elu;
  if (name == "tanh") return Activation::tanh;
  if (name == "hard-tanh") return Activation::hard_tanh;
  if (name == "sigmoid") return Activation::sigmoid;
  return Activation::relu;
}

struct DenseLayer {
  const float* weight;  // (out, in), row-major
  const float* bias;    // (out)
  int in;
  int out;
};

// Activations between layers are kept feature-major (column-major rows×width: each unit's
// values for the chunk's rows are contiguous), which lets the bias add run down a column and
// measured 7% faster than row-major; the input and the output are row-major.
enum class Layout { row_major, feature_major };

// y = x · Wᵀ for one chunk of `rows` rows, in BLAS's column-major terms. W is row-major
// (out, in), i.e. column-major (in, out), so it is Wᵀ as BLAS sees it.
void dense(Sgemm sgemm, const DenseLayer& layer, const float* x, Layout x_layout, int rows,
           float* y, Layout y_layout) {
  const float one = 1.0f, zero = 0.0f;
  const int& in = layer.in;
  const int& out = layer.out;
  const bool x_rows = x_layout == Layout::row_major;
  if (y_layout == Layout::feature_major)  // y (rows, out) = op(x) · Wᵀ
    sgemm(x_rows ? "T" : "N", "N", &rows, &out, &in, &one, x, x_rows ? &in : &rows,
          layer.weight, &in, &zero, y, &rows);
  else  // yᵀ (out, rows) = W · op(x)ᵀ
    sgemm("T", x_rows ? "N" : "T", &out, &rows, &in, &one, layer.weight, &in, x,
          x_rows ? &in : &rows, &zero, y, &out);
}

// Adds the bias to every (row, unit) of y; `f` maps the result (the activation).
template <typename F>
void add_bias(float* y, int rows, const DenseLayer& layer, Layout layout, F f) {
  if (layout == Layout::feature_major) {
    for (int j = 0; j < layer.out; ++j, y += rows) {
      const float bias = layer.bias[j];
      for (int r = 0; r < rows; ++r) y[r] = f(y[r] + bias);
    }
  } else {
    for (int r = 0; r < rows; ++r, y += layer.out)
      for (int j = 0; j < layer.out; ++j) y[j] = f(y[j] + layer.bias[j]);
  }
}

// Adds the bias and applies the activation in place. ReLU and hard-tanh are plain loops the
// compiler vectorises; the others use ATen's vectorised kernels on pieces small enough
// (≤ GRAIN_SIZE) that ATen runs them inline rather than on OpenMP threads.
void bias_activation(float* y, int rows, const DenseLayer& layer, Layout layout,
                     std::optional<Activation> activation) {
  if (activation == Activation::relu)
    return add_bias(y, rows, layer, layout, [](float v) { return std::max(v, 0.0f); });
  if (activation == Activation::hard_tanh)
    return add_bias(y, rows, layer, layout,
                    [](float v) { return std::min(std::max(v, -1.0f), 1.0f); });
  add_bias(y, rows, layer, layout, [](float v) { return v; });
  if (!activation) return;
  const std::int64_t total = static_cast<std::int64_t>(rows) * layer.out;
  for (std::int64_t start = 0; start < total; start += at::internal::GRAIN_SIZE) {
    at::Tensor piece =
        at::from_blob(y + start, {std::min(at::internal::GRAIN_SIZE, total - start)}, at::kFloat);
    if (*activation == Activation::elu) at::elu_(piece);
    else if (*activation == Activation::tanh) at::tanh_(piece);
    else at::sigmoid_(piece);
  }
}

// One inference call: the caller and any helper tasks claim chunks from `next_chunk` until
// none are left. Helpers hold the job through a shared_ptr, so one that starts late (its
// pool was busy) finds no work and touches nothing that has gone away; the caller waits
// only for helpers that are still working on a chunk, so a busy pool never blocks it.
class InferenceJob {
 public:
  InferenceJob(std::vector<DenseLayer> layers, std::vector<at::Tensor> keep_alive,
               Activation activation, const float* input, float* output, std::int64_t rows)
      : layers_(std::move(layers)),
        keep_alive_(std::move(keep_alive)),
        activation_(activation),
        input_(input),
        output_(output),
        rows_(rows),
        chunks_((rows + kChunkRows - 1) / kChunkRows) {
    for (const auto& layer : layers_) widest_ = std::max(widest_, layer.out);
  }

  std::int64_t chunks() const { return chunks_; }

  void work() {
    std::unique_ptr<float[]> ping, pong;  // allocated on the first chunk this worker gets
    for (;;) {
      active_.fetch_add(1);
      const std::int64_t chunk = next_chunk_.fetch_add(1);
      if (chunk >= chunks_) return finish();
      if (!ping) {
        ping.reset(new float[kChunkRows * widest_]);
        pong.reset(new float[kChunkRows * widest_]);
      }
      try {
        run_chunk(chunk, ping.get(), pong.get());
      } catch (...) {
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
        next_chunk_.store(chunks_);  // the others stop after their current chunk
      }
      finish();
    }
  }

  // Waits until no helper is inside a chunk, then rethrows the first error, if any.
  void wait() {
    std::unique_lock<std::mutex> lock(mutex_);
    idle_.wait(lock, [this] { return active_.load() == 0; });
    if (error_) std::rethrow_exception(error_);
  }

 private:
  void finish() {
    if (active_.fetch_sub(1) == 1) {
      std::lock_guard<std::mutex> lock(mutex_);
      idle_.notify_all();
    }
  }

  void run_chunk(std::int64_t chunk, float* ping, float* pong) const {
    const Sgemm sgemm = blas_sgemm();
    const std::int64_t start = chunk * kChunkRows;
    const int rows = static_cast<int>(std::min(kChunkRows, rows_ - start));
    const float* x = input_ + start * layers_.front().in;
    Layout x_layout = Layout::row_major;
    for (std::size_t l = 0; l < layers_.size(); ++l) {
      const bool last = l + 1 == layers_.size();
      float* y = last ? output_ + start * layers_.back().out : (l % 2 == 0 ? ping : pong);
      const Layout y_layout = last ? Layout::row_major : Layout::feature_major;
      dense(sgemm, layers_[l], x, x_layout, rows, y, y_layout);
      bias_activation(y, rows, layers_[l], y_layout,
                      last ? std::nullopt : std::optional(activation_));
      x = y;
      x_layout = y_layout;
    }
  }

  const std::vector<DenseLayer> layers_;
  const std::vector<at::Tensor> keep_alive_;  // weights, input and output
  const Activation activation_;
  const float* const input_;
  float* const output_;
  const std::int64_t rows_;
  const std::int64_t chunks_;
  int widest_ = 0;
  std::atomic<std::int64_t> next_chunk_{0};
  std::atomic<int> active_{0};
  std::mutex mutex_;
  std::condition_variable idle_;
  std::exception_ptr error_;
};

}  // namespace

std::optional<at::Tensor> dense_inference(const std::vector<DenseLayerWeights>& layers,
                                          const std::string& activation,
                                          const at::Tensor& input) {
  const Sgemm sgemm = blas_sgemm();
  if (!sgemm || layers.empty() || input.scalar_type() != at::kFloat || !input.device().is_cpu())
    return std::nullopt;
  std::vector<DenseLayer> dense_layers;
  std::vector<at::Tensor> keep_alive;
  for (const auto& [weight_tensor, bias_tensor] : layers) {
    const at::Tensor weight = weight_tensor.contiguous();
    const at::Tensor bias = bias_tensor.contiguous();
    if (weight.scalar_type() != at::kFloat || !weight.device().is_cpu() ||
        bias.scalar_type() != at::kFloat || !bias.device().is_cpu())
      return std::nullopt;
    dense_layers.push_back({weight.data_ptr<float>(), bias.data_ptr<float>(),
                            static_cast<int>(weight.size(1)), static_cast<int>(weight.size(0))});
    keep_alive.insert(keep_alive.end(), {weight, bias});
  }

  const at::Tensor x = input.contiguous();
  const std::int64_t rows = x.size(0);
  at::Tensor output = at::empty({rows, layers.back().weight.size(0)}, x.options());
  keep_alive.insert(keep_alive.end(), {x, output});
  auto job = std::make_shared<InferenceJob>(std::move(dense_layers), std::move(keep_alive),
                                            activation_of(activation), x.data_ptr<float>(),
                                            output.data_ptr<float>(), rows);
  const std::int64_t helpers = std::min<std::int64_t>(at::get_num_threads(), job->chunks()) - 1;
  for (std::int64_t i = 0; i < helpers; ++i) at::launch([job] { job->work(); });
  job->work();
  job->wait();
  return output;
}

}  // namespace brains::processors
