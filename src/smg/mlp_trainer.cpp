#include "brains/smg/mlp_trainer.h"

#include <ATen/ATen.h>
#include <ATen/Parallel.h>
#include <fmt/format.h>
#include <torch/nn/modules/linear.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <thread>

#include "brains/core/error.h"
#include "brains/processors/dense_kernels.h"

#if defined(__x86_64__) || defined(__i386__)
#include <immintrin.h>
#define BRAINS_CPU_PAUSE() _mm_pause()
#else
#define BRAINS_CPU_PAUSE() ((void)0)
#endif

namespace brains::smg {

namespace kernels = processors::kernels;

namespace {

// Persistent helper threads that share the chunks of each step with the caller. Chunks are
// claimed dynamically: the caller works too and takes whatever is left, and then waits only
// for helpers that are inside a chunk, so a helper the OS has not scheduled (the cores are
// shared) costs nothing; the step then runs on the caller alone. Between steps (a few hundred
// microseconds apart) a helper spins for up to 50 µs before it blocks, since waking a
// blocked thread costs tens of microseconds.
class Team {
 public:
  using Work = std::function<void(int worker, int chunk)>;

  explicit Team(int size) : size_(std::max(size, 1)) {
    for (int w = 1; w < size_; ++w) helpers_.emplace_back([this, w] { helper(w); });
  }
  ~Team() {
    {
      std::lock_guard<std::mutex> lock(mutex_);
      stop_ = true;
      generation_.fetch_add(1);
    }
    start_.notify_all();
    for (auto& thread : helpers_) thread.join();
  }
  Team(const Team&) = delete;
  Team& operator=(const Team&) = delete;

  int size() const { return size_; }

  // Runs work(worker, chunk) once for every chunk in [0, chunks); worker 0 is this thread.
  void run(int chunks, const Work& work) {
    auto job = std::make_shared<Job>(&work, chunks);
    if (size_ > 1) {
      {
        std::lock_guard<std::mutex> lock(mutex_);
        job_ = job;
        generation_.fetch_add(1);
      }
      start_.notify_all();
    }
    claim(0, *job);
    if (!spin_until([&] { return job->active.load() == 0; })) {
      std::unique_lock<std::mutex> lock(mutex_);
      done_.wait(lock, [&] { return job->active.load() == 0; });
    }
  }

 private:
  struct Job {
    Job(const Work* w, int n) : work(w), chunks(n) {}
    const Work* work;  // the caller's; called only for a claimed chunk, while the caller waits
    const int chunks;
    std::atomic<int> next{0};
    std::atomic<int> active{0};  // workers between claiming and finishing a chunk
  };

  // Claims and runs chunks until none is left. `active` is raised before each claim, so the
  // caller, once every chunk is claimed, sees every helper still working on one.
  void claim(int worker, Job& job) {
    for (;;) {
      job.active.fetch_add(1);
      const int chunk = job.next.fetch_add(1);
      if (chunk < job.chunks) (*job.work)(worker, chunk);
      if (job.active.fetch_sub(1) == 1) {
        std::lock_guard<std::mutex> lock(mutex_);
        done_.notify_all();
      }
      if (chunk >= job.chunks) return;
    }
  }

  // Spins up to ~50 µs for `ready`; false when it is still not ready.
  template <typename Ready>
  static bool spin_until(Ready ready) {
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::microseconds(50);
    for (int i = 0;; ++i) {
      if (ready()) return true;
      BRAINS_CPU_PAUSE();
      if ((i & 63) == 63 && std::chrono::steady_clock::now() > deadline) return ready();
    }
  }

  void helper(int worker) {
    std::uint64_t seen = 0;
    for (;;) {
      if (!spin_until([&] { return generation_.load() != seen; })) {
        std::unique_lock<std::mutex> lock(mutex_);
        start_.wait(lock, [&] { return generation_.load() != seen; });
      }
      std::shared_ptr<Job> job;
      {
        std::lock_guard<std::mutex> lock(mutex_);
        seen = generation_.load();
        if (stop_) return;
        job = job_;
      }
      claim(worker, *job);  // a late helper finds every chunk taken and does nothing
    }
  }

  const int size_;
  std::vector<std::thread> helpers_;
  std::mutex mutex_;
  std::condition_variable start_, done_;
  std::atomic<std::uint64_t> generation_{0};
  std::shared_ptr<Job> job_;
  bool stop_ = false;
};

// Rows per chunk: half the default minibatch of 256, so two cores share it evenly; larger
// minibatches make more chunks, shared dynamically.
constexpr int kChunkRows = 128;

// One worker's buffers for `rows` rows: every hidden layer's activations (kept for the
// backward pass), two gradient buffers, the output, and its own copy of every gradient.
struct Workspace {
  std::vector<std::vector<float>> hidden;  // (rows × width_l) per hidden layer
  std::vector<float> output;               // (rows × D_out); becomes dLoss/dY
  std::vector<float> gradient[2];          // (rows × widest)
  std::vector<float> parameter_grads;      // all parameters, flat, in module order
  double squared_error = 0.0;
  bool used = false;  // took part in the current step (its gradients are valid)
};

}  // namespace

class MlpTrainer::Impl {
 public:
  Impl(processors::NeuralNetworkModel model, algorithms::AdamSettings adam, MlpTrainerOptions options)
      : model_(std::move(model)), adam_(adam) {
    if (!(adam.learning_rate >= 0) || !(adam.eps >= 0) || !(adam.weight_decay >= 0) ||
        !(adam.beta1 >= 0 && adam.beta1 < 1) || !(adam.beta2 >= 0 && adam.beta2 < 1) || adam.amsgrad)
      throw ArgumentError(fmt::format(
          "cannot train: Adam lr {}, betas ({}, {}), eps {}, weight_decay {} out of range (amsgrad "
          "is not supported)",
          adam.learning_rate, adam.beta1, adam.beta2, adam.eps, adam.weight_decay));
    parameters_ = model_->parameters();
    std::int64_t offset = 0;
    for (const auto& p : parameters_) {
      if (!p.device().is_cpu() || p.scalar_type() != at::kFloat || !p.is_contiguous())
        throw ArgumentError("cannot train: parameters must be contiguous float32 CPU tensors");
      exp_avg_.push_back(at::zeros_like(p));
      exp_avg_sq_.push_back(at::zeros_like(p));
      offsets_.push_back(offset);
      offset += p.numel();
    }
    total_parameters_ = offset;
    for (const auto& module : model_->raw_model->children())
      if (const auto* linear = module->as<torch::nn::Linear>())
        layers_.push_back({linear->weight.data_ptr<float>(), linear->bias.data_ptr<float>(),
                           static_cast<int>(linear->weight.size(1)),
                           static_cast<int>(linear->weight.size(0))});
    activation_ = kernels::activation_from_name(model_->structure().activation);
    fused_ = options.fused && kernels::blas_sgemm() != nullptr &&
             layers_.size() * 2 == parameters_.size();
    const int threads = options.threads > 0
                            ? options.threads
                            : static_cast<int>(std::max(1u, std::thread::hardware_concurrency()));
    if (fused_) team_ = std::make_unique<Team>(std::max(1, threads));
  }

  double step(const at::Tensor& inputs, const at::Tensor& targets) {
    const auto& structure = model_->structure();
    if (inputs.dim() != 2 || inputs.size(1) != structure.d_in || targets.dim() != 2 ||
        targets.size(1) != structure.d_out || inputs.size(0) != targets.size(0) ||
        inputs.size(0) == 0)
      throw ArgumentError("cannot train: expected inputs (B, " + std::to_string(structure.d_in) +
                          ") and targets (B, " + std::to_string(structure.d_out) + "), got " +
                          c10::str(inputs.sizes()) + " and " + c10::str(targets.sizes()));
    ++steps_;
    if (!fused_ || inputs.scalar_type() != at::kFloat || targets.scalar_type() != at::kFloat ||
        !inputs.device().is_cpu() || !targets.device().is_cpu())
      return autograd_step(inputs, targets);
    return fused_step(inputs.contiguous(), targets.contiguous());
  }

  bool fused() const { return fused_; }
  int threads() const { return team_ ? team_->size() : 1; }
  std::int64_t steps() const { return steps_; }
  const processors::NeuralNetworkModel& model() const { return model_; }

  Snapshot snapshot() const {
    Snapshot out;
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
      out.parameters.push_back(parameters_[i].detach().clone());
      out.exp_avg.push_back(exp_avg_[i].clone());
      out.exp_avg_sq.push_back(exp_avg_sq_[i].clone());
    }
    out.steps = steps_;
    return out;
  }

  void restore(const Snapshot& snapshot) {
    if (snapshot.parameters.size() != parameters_.size())
      throw ArgumentError("cannot restore: the snapshot is of another model");
    at::NoGradGuard no_grad;
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
      parameters_[i].copy_(snapshot.parameters[i]);
      exp_avg_[i].copy_(snapshot.exp_avg[i]);
      exp_avg_sq_[i].copy_(snapshot.exp_avg_sq[i]);
    }
    steps_ = snapshot.steps;
  }

  io::PyValue optimizer_state_dict(const Snapshot& snapshot) const {
    io::PyValue state = io::PyValue::dict();
    io::PyValue::Items indices;
    for (std::size_t i = 0; i < snapshot.parameters.size(); ++i) {
      io::PyValue entry = io::PyValue::dict();
      entry.set("step", io::PyValue::tensor(at::scalar_tensor(static_cast<double>(snapshot.steps), at::kFloat)));
      entry.set("exp_avg", io::PyValue::tensor(snapshot.exp_avg[i]));
      entry.set("exp_avg_sq", io::PyValue::tensor(snapshot.exp_avg_sq[i]));
      if (snapshot.steps > 0)
        state.dict_items().emplace_back(io::PyValue::integer(static_cast<std::int64_t>(i)), entry);
      indices.push_back(io::PyValue::integer(static_cast<std::int64_t>(i)));
    }
    io::PyValue group = io::PyValue::dict();
    group.set("lr", io::PyValue::floating(adam_.learning_rate));
    group.set("betas", io::PyValue::tuple({io::PyValue::floating(adam_.beta1), io::PyValue::floating(adam_.beta2)}));
    group.set("eps", io::PyValue::floating(adam_.eps));
    group.set("weight_decay", io::PyValue::floating(adam_.weight_decay));
    group.set("amsgrad", io::PyValue::boolean(false));
    group.set("maximize", io::PyValue::boolean(false));
    group.set("foreach", io::PyValue::none());
    group.set("capturable", io::PyValue::boolean(false));
    group.set("differentiable", io::PyValue::boolean(false));
    group.set("fused", io::PyValue::boolean(false));
    group.set("params", io::PyValue::list(std::move(indices)));
    io::PyValue out = io::PyValue::dict();
    out.set("state", state);
    out.set("param_groups", io::PyValue::list({group}));
    return out;
  }

 private:
  double autograd_step(const at::Tensor& inputs, const at::Tensor& targets) {
    at::AutoGradMode grad_mode(true);
    for (auto& p : parameters_) {
      p.set_requires_grad(true);
      if (p.mutable_grad().defined()) p.mutable_grad().zero_();
    }
    const at::Tensor loss = at::mse_loss(model_->forward(inputs.to(at::kFloat)), targets.to(at::kFloat));
    loss.backward();
    at::NoGradGuard no_grad;
    for (std::size_t i = 0; i < parameters_.size(); ++i) {
      at::Tensor& p = parameters_[i];
      const at::Tensor grad = p.grad().contiguous();
      algorithms::adam_update(p.data_ptr<float>(), grad.data_ptr<float>(), exp_avg_[i].data_ptr<float>(),
                              exp_avg_sq_[i].data_ptr<float>(), nullptr, p.numel(), adam_, steps_);
    }
    return loss.item<double>();
  }

  void ensure_workspaces(int rows_per_worker) {
    if (rows_per_worker <= workspace_rows_) return;
    const std::size_t rows = static_cast<std::size_t>(rows_per_worker);
    int widest = 0;
    for (const auto& layer : layers_) widest = std::max({widest, layer.in, layer.out});
    workspaces_.resize(team_->size());
    for (auto& w : workspaces_) {
      w.hidden.resize(layers_.size() - 1);
      for (std::size_t l = 0; l + 1 < layers_.size(); ++l) w.hidden[l].assign(rows * layers_[l].out, 0.0f);
      w.output.assign(rows * layers_.back().out, 0.0f);
      w.gradient[0].assign(rows * widest, 0.0f);
      w.gradient[1].assign(rows * widest, 0.0f);
      w.parameter_grads.assign(static_cast<std::size_t>(total_parameters_), 0.0f);
    }
    workspace_rows_ = rows_per_worker;
  }

  // Forward and backward of `rows` rows into w's gradients (added to them with accumulate).
  void forward_backward(Workspace& w, const float* x, const float* t, int rows, double scale,
                        bool accumulate) {
    const std::size_t hidden = layers_.size() - 1;
    const float* h = x;
    for (std::size_t l = 0; l < hidden; ++l) {
      kernels::dense_forward(layers_[l], h, rows, w.hidden[l].data());
      kernels::bias_activation(w.hidden[l].data(), rows, layers_[l], kernels::Layout::row_major, activation_);
      h = w.hidden[l].data();
    }
    const kernels::DenseLayer& last = layers_.back();
    float* y = w.output.data();
    kernels::dense_forward(last, h, rows, y);
    kernels::bias_activation(y, rows, last, kernels::Layout::row_major, std::nullopt);
    // MSE over the whole minibatch: dLoss/dy = 2 (y − t) / (B · D_out).
    double squared = 0.0;
    const float factor = static_cast<float>(scale);
    const std::int64_t count = static_cast<std::int64_t>(rows) * last.out;
    for (std::int64_t i = 0; i < count; ++i) {
      const float difference = y[i] - t[i];
      squared += static_cast<double>(difference) * difference;
      y[i] = factor * difference;
    }
    w.squared_error += squared;

    const float* g = y;
    int which = 0;
    for (std::size_t l = layers_.size(); l-- > 0;) {
      const float* layer_input = l == 0 ? x : w.hidden[l - 1].data();
      float* weight_grad = w.parameter_grads.data() + offsets_[2 * l];
      float* bias_grad = w.parameter_grads.data() + offsets_[2 * l + 1];
      kernels::dense_backward_weights(layers_[l], g, layer_input, rows, weight_grad, bias_grad, accumulate);
      if (l == 0) break;
      float* next = w.gradient[which].data();
      which ^= 1;
      kernels::dense_backward_input(layers_[l], g, rows, next);
      kernels::activation_backward(next, w.hidden[l - 1].data(),
                                   static_cast<std::int64_t>(rows) * layers_[l].in, activation_);
      g = next;
    }
  }

  double fused_step(const at::Tensor& inputs, const at::Tensor& targets) {
    const auto batch = static_cast<int>(inputs.size(0));
    const int chunks = (batch + kChunkRows - 1) / kChunkRows;
    const int chunk_rows = (batch + chunks - 1) / chunks;
    ensure_workspaces(chunk_rows);
    for (auto& space : workspaces_) {
      space.used = false;
      space.squared_error = 0.0;
    }
    const float* x = inputs.data_ptr<float>();
    const float* t = targets.data_ptr<float>();
    const int d_in = layers_.front().in;
    const int d_out = layers_.back().out;
    const double scale = 2.0 / (static_cast<double>(batch) * d_out);
    team_->run(chunks, [&](int worker, int chunk) {
      const int begin = chunk * chunk_rows;
      const int rows = std::min(batch, begin + chunk_rows) - begin;
      if (rows <= 0) return;
      Workspace& space = workspaces_[worker];
      forward_backward(space, x + static_cast<std::int64_t>(begin) * d_in,
                       t + static_cast<std::int64_t>(begin) * d_out, rows, scale, space.used);
      space.used = true;
    });

    // Sum the gradients of the workers that took part into the first of them, then update
    // every parameter.
    float* grads = nullptr;
    double squared = 0.0;
    for (auto& space : workspaces_) {
      if (!space.used) continue;
      squared += space.squared_error;
      if (!grads) {
        grads = space.parameter_grads.data();
        continue;
      }
      const float* other = space.parameter_grads.data();
      for (std::int64_t i = 0; i < total_parameters_; ++i) grads[i] += other[i];
    }
    for (std::size_t i = 0; i < parameters_.size(); ++i)
      algorithms::adam_update(parameters_[i].data_ptr<float>(), grads + offsets_[i],
                              exp_avg_[i].data_ptr<float>(), exp_avg_sq_[i].data_ptr<float>(), nullptr,
                              parameters_[i].numel(), adam_, steps_);
    for (auto& p : parameters_) p.unsafeGetTensorImpl()->bump_version();
    return squared / (static_cast<double>(batch) * d_out);
  }

  processors::NeuralNetworkModel model_;
  algorithms::AdamSettings adam_;
  std::vector<at::Tensor> parameters_, exp_avg_, exp_avg_sq_;
  std::vector<std::int64_t> offsets_;
  std::int64_t total_parameters_ = 0;
  std::vector<kernels::DenseLayer> layers_;
  kernels::Activation activation_ = kernels::Activation::relu;
  bool fused_ = false;
  std::int64_t steps_ = 0;
  std::unique_ptr<Team> team_;
  std::vector<Workspace> workspaces_;
  int workspace_rows_ = 0;
};

MlpTrainer::MlpTrainer(processors::NeuralNetworkModel model, algorithms::AdamSettings adam,
                       MlpTrainerOptions options)
    : impl_(std::make_unique<Impl>(std::move(model), adam, options)) {}
MlpTrainer::~MlpTrainer() = default;
MlpTrainer::MlpTrainer(MlpTrainer&&) noexcept = default;
MlpTrainer& MlpTrainer::operator=(MlpTrainer&&) noexcept = default;

double MlpTrainer::step(const at::Tensor& inputs, const at::Tensor& targets) {
  return impl_->step(inputs, targets);
}
bool MlpTrainer::fused() const noexcept { return impl_->fused(); }
int MlpTrainer::threads() const noexcept { return impl_->threads(); }
std::int64_t MlpTrainer::steps() const noexcept { return impl_->steps(); }
const processors::NeuralNetworkModel& MlpTrainer::model() const noexcept { return impl_->model(); }
MlpTrainer::Snapshot MlpTrainer::snapshot() const { return impl_->snapshot(); }
void MlpTrainer::restore(const Snapshot& snapshot) { impl_->restore(snapshot); }
io::PyValue MlpTrainer::optimizer_state_dict(const Snapshot& snapshot) const {
  return impl_->optimizer_state_dict(snapshot);
}

}  // namespace brains::smg
