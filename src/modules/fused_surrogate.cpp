#include "brains/modules/fused_surrogate.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <torch/csrc/autograd/custom_function.h>
#include <torch/nn/modules/linear.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <exception>
#include <limits>
#include <memory>
#include <mutex>
#include <optional>

#include "brains/core/error.h"
#include "brains/processors/dense_kernels.h"

namespace brains::modules {

namespace {

using processors::kernels::Activation;
using Layer = processors::kernels::DenseLayer;
using processors::kernels::blas_sgemm;

// Rows per chunk: the five 256×90 activations and two gradient buffers of a chunk (0.6 MB)
// stay in a core's L2 from the first layer forward to the last one backward. Measured on the
// default 5×90 model, 2 threads: 64 to 512 rows within 5% of each other (BLAS-bound).
constexpr int kChunkRows = 256;

// The frozen network and output effects of a surrogate, as plain pointers.
struct Network {
  std::vector<Layer> layers;  // hidden layers, then the output layer
  std::vector<at::Tensor> keep_alive;
  Activation activation = Activation::relu;
  float amplification = 1.0f;
  float low = -std::numeric_limits<float>::infinity();  // output clipping
  float high = std::numeric_limits<float>::infinity();
  double noise_std = 0.0;
  int widest = 0;
};

std::optional<Network> network_of(const processors::ProcessorImpl& processor) {
  const processors::SurrogateModel surrogate = processor.surrogate();
  if (!surrogate || processor.processor_type() != "simulation" || !processor.waveform().is_static() ||
      !blas_sgemm())
    return std::nullopt;
  const auto& structure = surrogate->model->structure();
  if (structure.d_out != 1) return std::nullopt;
  Network network;
  if (structure.activation == "relu")
    network.activation = Activation::relu;
  else if (structure.activation == "hard-tanh")
    network.activation = Activation::hard_tanh;
  else
    return std::nullopt;  // smooth activations: their second derivatives do not vanish
  for (const auto& module : surrogate->model->raw_model->children()) {
    const auto* linear = module->as<torch::nn::Linear>();
    if (!linear) continue;
    const at::Tensor& weight = linear->weight;
    const at::Tensor& bias = linear->bias;
    if (weight.requires_grad() || !bias.defined() || bias.requires_grad() ||
        weight.scalar_type() != at::kFloat || !weight.device().is_cpu() || !weight.is_contiguous() ||
        bias.scalar_type() != at::kFloat || !bias.is_contiguous())
      return std::nullopt;
    network.layers.push_back({weight.data_ptr<float>(), bias.data_ptr<float>(),
                              static_cast<int>(weight.size(1)), static_cast<int>(weight.size(0))});
    network.keep_alive.insert(network.keep_alive.end(), {weight, bias});
    network.widest = std::max(network.widest, static_cast<int>(weight.size(0)));
  }
  if (network.layers.size() < 2) return std::nullopt;
  if (const auto amplification = surrogate->amplification())
    network.amplification = amplification->item<float>();
  const at::Tensor clipping = surrogate->clipping_value().to(at::kDouble);
  network.low = static_cast<float>(clipping[0].item<double>());
  network.high = static_cast<float>(clipping[1].item<double>());
  network.noise_std = surrogate->noise_std().value_or(0.0);
  return network;
}

// Activations and gradients of one chunk, per worker.
class Workspace {
 public:
  explicit Workspace(const Network& network)
      : stride_(static_cast<std::size_t>(kChunkRows) * network.widest),
        hidden_(network.layers.size() - 1),
        memory_(new float[stride_ * (hidden_ + 2) + kChunkRows]) {}
  float* activation(std::size_t layer) { return memory_.get() + layer * stride_; }
  float* gradient(int which) { return memory_.get() + (hidden_ + which) * stride_; }
  float* seed() { return memory_.get() + (hidden_ + 2) * stride_; }

 private:
  std::size_t stride_;
  std::size_t hidden_;
  std::unique_ptr<float[]> memory_;
};

// Forward and input gradient of `rows` evaluations: x (rows×E) -> y (rows), dy/dx (rows×E).
void run_chunk(const Network& network, const float* x, const float* noise, int rows, float* y,
               float* jacobian, Workspace& work) {
  const std::size_t hidden = network.layers.size() - 1;
  const float* h = x;
  for (std::size_t l = 0; l < hidden; ++l) {
    processors::kernels::dense_forward(network.layers[l], h, rows, work.activation(l));
    processors::kernels::bias_activation(work.activation(l), rows, network.layers[l],
                                         processors::kernels::Layout::row_major,
                                         network.activation);
    h = work.activation(l);
  }
  // Output layer and effects (SurrogateModel: ·amplification, +noise, clamp). Clamping
  // passes the gradient where low <= y <= high, as torch's clamp backward.
  const Layer& output = network.layers.back();
  processors::kernels::dense_forward(output, h, rows, y);
  float* seed = work.seed();
  for (int r = 0; r < rows; ++r) {
    float v = (y[r] + output.bias[0]) * network.amplification;
    if (noise) v += noise[r];
    seed[r] = (v >= network.low && v <= network.high) ? network.amplification : 0.0f;
    y[r] = std::min(std::max(v, network.low), network.high);
  }
  // Backwards: seed ⊗ W_out, then through each hidden layer down to the electrodes.
  int width = output.in;
  float* g = work.gradient(0);
  for (int r = 0; r < rows; ++r)
    for (int j = 0; j < width; ++j) g[r * width + j] = seed[r] * output.weight[j];
  for (std::size_t l = hidden; l-- > 0;) {
    processors::kernels::activation_backward(g, work.activation(l),
                                             static_cast<std::int64_t>(rows) * width,
                                             network.activation);
    float* next = l == 0 ? jacobian : work.gradient(g == work.gradient(0) ? 1 : 0);
    processors::kernels::dense_backward_input(network.layers[l], g, rows, next);
    g = next;
    width = network.layers[l].in;
  }
}

// y and dy/dx for all rows, chunks shared out dynamically between the caller and
// at::get_num_threads() − 1 helper tasks on ATen's inter-op pool (at::parallel_for would run
// serially here: LibTorch's OpenMP build flags do not reach code built against it). A helper
// holds the job by shared_ptr, so one that starts late (its pool was busy) finds no chunk
// left and touches nothing that has gone away; the caller waits only for helpers that are
// inside a chunk, so a busy pool never blocks it.
class ChunkJob {
 public:
  ChunkJob(Network network, at::Tensor x, const float* noise, at::Tensor y, at::Tensor jacobian)
      : network_(std::move(network)),
        x_(std::move(x)),
        noise_(noise),
        y_(std::move(y)),
        jacobian_(std::move(jacobian)),
        rows_(x_.size(0)),
        chunks_((rows_ + kChunkRows - 1) / kChunkRows) {}

  std::int64_t chunks() const { return chunks_; }

  void work() {
    std::unique_ptr<Workspace> workspace;  // allocated once this worker gets a chunk
    for (;;) {
      active_.fetch_add(1);
      const std::int64_t chunk = next_chunk_.fetch_add(1);
      if (chunk >= chunks_) return finish();
      try {
        if (!workspace) workspace = std::make_unique<Workspace>(network_);
        const std::int64_t start = chunk * kChunkRows;
        const int rows = static_cast<int>(std::min<std::int64_t>(kChunkRows, rows_ - start));
        const std::int64_t electrodes = x_.size(1);
        run_chunk(network_, x_.data_ptr<float>() + start * electrodes,
                  noise_ ? noise_ + start : nullptr, rows, y_.data_ptr<float>() + start,
                  jacobian_.data_ptr<float>() + start * electrodes, *workspace);
      } catch (...) {  // out of memory: the others stop after their current chunk
        std::lock_guard<std::mutex> lock(mutex_);
        if (!error_) error_ = std::current_exception();
        next_chunk_.store(chunks_);
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

  const Network network_;
  const at::Tensor x_;
  const float* const noise_;  // owned by the caller, read only while the caller waits
  const at::Tensor y_;
  const at::Tensor jacobian_;
  const std::int64_t rows_;
  const std::int64_t chunks_;
  std::atomic<std::int64_t> next_chunk_{0};
  std::atomic<int> active_{0};
  std::mutex mutex_;
  std::condition_variable idle_;
  std::exception_ptr error_;
};

void run_all(const Network& network, const at::Tensor& x, const float* noise, at::Tensor& y,
             at::Tensor& jacobian) {
  auto job = std::make_shared<ChunkJob>(network, x, noise, y, jacobian);
  const std::int64_t helpers = std::min<std::int64_t>(at::get_num_threads(), job->chunks()) - 1;
  for (std::int64_t i = 0; i < helpers; ++i) at::launch([job] { job->work(); });
  job->work();
  job->wait();
}

class FusedSurrogateFunction : public torch::autograd::Function<FusedSurrogateFunction> {
 public:
  static at::Tensor forward(torch::autograd::AutogradContext* context, const at::Tensor& x,
                            const Network* network, const float* noise) {
    at::Tensor y = at::empty({x.size(0), 1}, x.options());
    at::Tensor jacobian = at::empty(x.sizes(), x.options());
    run_all(*network, x, noise, y, jacobian);
    context->save_for_backward({jacobian});
    return y;
  }

  static torch::autograd::variable_list backward(torch::autograd::AutogradContext* context,
                                                 torch::autograd::variable_list grad_outputs) {
    const at::Tensor jacobian = context->get_saved_variables()[0];
    return {grad_outputs[0] * jacobian, at::Tensor(), at::Tensor()};  // x, network, noise
  }
};

}  // namespace

bool fusable_surrogate(const processors::ProcessorImpl& processor, const at::Tensor& x) {
  return at::GradMode::is_enabled() && x.requires_grad() && x.dim() == 2 &&
         x.size(1) == processor.activation_electrode_count() && x.scalar_type() == at::kFloat &&
         x.device().is_cpu() && network_of(processor).has_value();
}

at::Tensor fused_surrogate_forward(processors::ProcessorImpl& processor, const at::Tensor& x) {
  const std::optional<Network> network = network_of(processor);
  if (!network || x.dim() != 2 || x.size(1) != processor.activation_electrode_count())
    throw ArgumentError("cannot run the fused surrogate: it needs a frozen single-output relu or "
                        "hard-tanh simulation processor and (points, electrodes) inputs");
  if (!at::isfinite(x).all().item<bool>())
    throw ArgumentError("cannot run processor: input contains NaN or Inf voltages");
  // Drawn up front from torch's generator, as SurrogateModel draws it.
  at::Tensor noise;
  if (network->noise_std > 0) noise = at::randn({x.size(0), 1}, x.options()).mul_(network->noise_std);
  return FusedSurrogateFunction::apply(x.contiguous(), &*network,
                                       noise.defined() ? noise.data_ptr<float>() : nullptr);
}

}  // namespace brains::modules
