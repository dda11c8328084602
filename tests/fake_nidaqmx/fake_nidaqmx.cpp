// A test build of libnidaqmx.so: the NI-DAQmx C functions brains-cpp uses, with the
// signatures of NIDAQmx.h (field-anchors §4.1), int32 status codes, and a simulated bench
// behind them. Nothing here is NI code; it models what the drivers rely on:
//
// - Time is virtual (seconds). An output (AO) task generates sample i of its buffer during
//   [t0 + i/rate, t0 + (i+1)/rate) and then holds its last sample; a stopped task holds the
//   sample it was at. An input (AI) task takes sample j at t0 + j/rate; a read of samples up
//   to j returns when sample j has been taken, and fails with -200474 (timed out) when that
//   is later than the read's timeout, with the samples taken by then.
// - Start trigger: an AO task configured with "/<chassis...>/ai/StartTrigger" arms on start
//   and begins one AI sample period after an AI task of that chassis starts (the cDAQ's
//   one-sample offset). A trigger from another chassis cannot be routed (-89136).
// - Separate starts (no trigger): an AI task begins BRAINS_FAKE_NIDAQMX_START_DELAY_S after
//   its start call (default 0.002 s), as a software start would.
// - Channel limits: a write with a sample outside a channel's [min, max] fails and nothing
//   of it is generated; a channel used by a running task cannot be used by another.
// - Wiring (file named by BRAINS_FAKE_NIDAQMX_WIRING), one connection per line:
//     dnpu ao=<ch>,<ch>,... ai=<ch>[,<ch>...] gain=<nA per V> inverting=<0|1> model=<m>
//     loop ao=<ch> ai=<ch>
//   A dnpu's electrodes are its AO channels in order; readout o gives
//   I_o(V) nA, read as (inverting ? -1 : 1) · I_o / gain volts, clipped to the AI range. The
//   model is `builtin` (a fixed sum of tanh ridges of every electrode, |I| < 62 nA) or
//   `mlp:<file>` (a tanh/relu network: "mlp <activation> <layers>", then per layer
//   "<in> <out>", out·in weights row-major, out biases; then "scale <nA per unit>").
//   A loop copies an AO level to an AI channel (the cdaq_to_nidaq synchronisation cable).
//   Unwired inputs read 0 V.
// - Faults (BRAINS_FAKE_NIDAQMX_FAULT=<kind>, from the _FAULT_AT-th (default 1) occurrence,
//   _FAULT_COUNT times (default: every later one)): read_timeout and short_read (per read
//   call), signal (raises SIGINT inside a read call), write_error (per timed write:
//   -50103), start_error (per task start: -50103), missing_spike (per AI start: loops
//   disconnected), late_spike (per AI start: the AI starts BRAINS_FAKE_NIDAQMX_LATE_SPIKE_S,
//   default 0.01 s, before the outputs instead of after).
// - BRAINS_FAKE_NIDAQMX_REALTIME=1 makes reads also wait in wall-clock time.
// - BRAINS_FAKE_NIDAQMX_RECORD names a file that gets one line per call (every written
//   sample: "write <task> <timed|on_demand> <channel> <v0> <v1> ...") and, at exit,
//   "exit open_tasks=<n>" and "level <channel> <V>" for every output.
// Tests in the same process inspect it through the fake_nidaqmx_* functions at the end.
// Error codes other than those of field-anchors §4.3 are this file's own choice.
#include <signal.h>

#include <algorithm>
#include <cctype>
#include <chrono>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <map>
#include <memory>
#include <mutex>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

typedef std::int32_t int32;
typedef std::uint32_t uInt32;
typedef unsigned long long uInt64;
typedef double float64;
typedef uInt32 bool32;
typedef void* TaskHandle;

#define FAKE_API extern "C" __attribute__((visibility("default")))

namespace {

constexpr int32 kVolts = 10348;
constexpr int32 kRising = 10280;
constexpr int32 kFalling = 10171;
constexpr int32 kFiniteSamps = 10178;
constexpr bool32 kGroupByChannel = 0;
constexpr bool32 kGroupByScanNumber = 1;

constexpr int32 kErrorTimedOut = -200474;
constexpr int32 kErrorInvalidTask = -200088;
constexpr int32 kErrorResourceReserved = -50103;
constexpr int32 kErrorRoute = -89136;
constexpr int32 kErrorNotDone = -200560;
// This file's own codes.
constexpr int32 kErrorChannel = -200170;
constexpr int32 kErrorValue = -200561;
constexpr int32 kErrorArgument = -200077;
constexpr int32 kErrorReadBeyondEnd = -200278;
constexpr int32 kErrorWiring = -200220;

thread_local std::string last_error;

int32 fail(int32 code, const std::string& message) {
  last_error = message + "\nStatus Code: " + std::to_string(code);
  return code;
}

double env_double(const char* name, double fallback) {
  const char* text = std::getenv(name);
  return text && *text ? std::strtod(text, nullptr) : fallback;
}

long long env_int(const char* name, long long fallback) {
  const char* text = std::getenv(name);
  return text && *text ? std::strtoll(text, nullptr, 10) : fallback;
}

std::vector<std::string> split(const std::string& text, char separator) {
  std::vector<std::string> parts;
  std::string part;
  std::istringstream in(text);
  while (std::getline(in, part, separator))
    if (!part.empty()) parts.push_back(part);
  return parts;
}

// "cDAQ1Mod3/ao4" -> {"cDAQ1Mod3", "ao", 4}; false when malformed.
bool parse_physical(const std::string& name, std::string& device, std::string& kind, int& number) {
  const auto slash = name.find('/');
  if (slash == std::string::npos || slash == 0 || name.size() < slash + 4) return false;
  device = name.substr(0, slash);
  kind = name.substr(slash + 1, 2);
  const std::string digits = name.substr(slash + 3);
  if (digits.empty() || digits.size() > 2 ||
      !std::all_of(digits.begin(), digits.end(), [](char c) { return c >= '0' && c <= '9'; }))
    return false;
  number = std::stoi(digits);
  return std::all_of(device.begin(), device.end(),
                     [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_'; });
}

std::string device_of(const std::string& physical) { return physical.substr(0, physical.find('/')); }

// ---------------------------------------------------------------------------------------
// Device models

struct Model {
  virtual ~Model() = default;
  // Output `output` in nA for electrode voltages v[0..n).
  virtual double current(const double* v, int n, int output) const = 0;
};

// A fixed sum of tanh ridges in which every electrode takes part.
struct BuiltinModel : Model {
  double current(const double* v, int n, int output) const override {
    double total = 0;
    for (int r = 0; r < 4; ++r) {
      double argument = 0.3 * std::cos(2.1 * r + output);
      for (int e = 0; e < n; ++e) argument += 1.4 * std::sin(1.7 * r + 0.9 * e + 0.3 * output + 0.5) * v[e];
      total += (r % 2 ? -1.0 : 1.0) * (1.0 - 0.15 * r) * std::tanh(argument);
    }
    return 20.0 * total;
  }
};

struct MlpModel : Model {
  struct Layer {
    int in = 0, out = 0;
    std::vector<double> weight, bias;
  };
  std::vector<Layer> layers;
  bool relu = false;
  double scale = 1.0;

  double current(const double* v, int n, int output) const override {
    std::vector<double> x(v, v + n), y;
    for (std::size_t l = 0; l < layers.size(); ++l) {
      const Layer& layer = layers[l];
      y.assign(static_cast<std::size_t>(layer.out), 0.0);
      for (int o = 0; o < layer.out; ++o) {
        double sum = layer.bias[static_cast<std::size_t>(o)];
        for (int i = 0; i < layer.in; ++i)
          sum += layer.weight[static_cast<std::size_t>(o * layer.in + i)] * x[static_cast<std::size_t>(i)];
        if (l + 1 < layers.size()) sum = relu ? std::max(0.0, sum) : std::tanh(sum);
        y[static_cast<std::size_t>(o)] = sum;
      }
      x.swap(y);
    }
    return scale * x[static_cast<std::size_t>(output)];
  }
};

std::unique_ptr<Model> load_mlp(const std::string& file, std::string& error) {
  std::ifstream in(file);
  auto model = std::make_unique<MlpModel>();
  std::string word, activation;
  int count = 0;
  if (!(in >> word >> activation >> count) || word != "mlp" || count < 1) {
    error = "cannot read mlp model " + file;
    return nullptr;
  }
  model->relu = activation == "relu";
  for (int l = 0; l < count; ++l) {
    MlpModel::Layer layer;
    in >> layer.in >> layer.out;
    layer.weight.resize(static_cast<std::size_t>(layer.in * layer.out));
    layer.bias.resize(static_cast<std::size_t>(layer.out));
    for (auto& w : layer.weight) in >> w;
    for (auto& b : layer.bias) in >> b;
    model->layers.push_back(std::move(layer));
  }
  if (!(in >> word >> model->scale) || word != "scale") {
    error = "cannot read mlp model " + file + ": no scale after the layers";
    return nullptr;
  }
  return model;
}

struct Connection {
  bool loop = false;
  std::vector<std::string> ao, ai;
  double gain = 1.0;
  bool inverting = false;
  std::shared_ptr<Model> model;
};

// ---------------------------------------------------------------------------------------
// Tasks and the bench

struct Channel {
  std::string physical;
  double min = 0, max = 0;
};

enum class State { idle, armed, running };

struct Task {
  std::string name;
  bool output = false, input = false;
  std::vector<Channel> channels;
  bool timed = false;
  double rate = 0;
  uInt64 samples = 0;
  std::string trigger;
  std::vector<double> buffer;  // AO, grouped by channel
  uInt64 buffered = 0;         // samples per channel in buffer
  State state = State::idle;
  double t0 = 0;               // start of sample 0
  double stopped_at = -1;      // time of the last stop (AO), for samples generated
  uInt64 read_pos = 0;         // AI
  bool loops_cut = false;      // AI, missing_spike
};

struct WriteRecord {
  std::string task;
  std::vector<std::string> channels;
  uInt64 samples = 0;
  bool timed = false;
  std::vector<double> data;      // grouped by channel
  std::vector<double> previous;  // each channel's level when the write came
};

struct ChannelRecord {
  std::string physical;
  double min = 0, max = 0;
  bool output = false;
};

struct Bench {
  std::mutex mutex;
  double now = 0;
  std::map<TaskHandle, std::unique_ptr<Task>> tasks;
  std::map<std::string, double> levels;  // held AO levels
  std::vector<Connection> wiring;
  std::string wiring_error;
  std::string fault;
  long long fault_at = 1, fault_count = -1;
  std::map<std::string, long long> occurrences;
  double start_delay_s = 0.002, late_spike_s = 0.01;
  bool realtime = false;
  std::vector<WriteRecord> writes;
  std::vector<ChannelRecord> channels;
  std::vector<double> read_timeouts;
  std::map<std::string, int> resets;
  std::FILE* record = nullptr;
  std::uintptr_t next_handle = 1;

  Bench() { configure(); }
  ~Bench() {
    if (!record) return;
    std::fprintf(record, "exit open_tasks=%zu\n", tasks.size());
    for (const auto& [channel, level] : levels) std::fprintf(record, "level %s %.17g\n", channel.c_str(), level);
    std::fclose(record);
  }

  void configure() {
    tasks.clear();
    levels.clear();
    wiring.clear();
    wiring_error.clear();
    occurrences.clear();
    writes.clear();
    channels.clear();
    read_timeouts.clear();
    resets.clear();
    now = 0;
    const char* fault_env = std::getenv("BRAINS_FAKE_NIDAQMX_FAULT");
    fault = fault_env ? fault_env : "";
    fault_at = env_int("BRAINS_FAKE_NIDAQMX_FAULT_AT", 1);
    fault_count = env_int("BRAINS_FAKE_NIDAQMX_FAULT_COUNT", -1);
    start_delay_s = env_double("BRAINS_FAKE_NIDAQMX_START_DELAY_S", 0.002);
    late_spike_s = env_double("BRAINS_FAKE_NIDAQMX_LATE_SPIKE_S", 0.01);
    realtime = env_int("BRAINS_FAKE_NIDAQMX_REALTIME", 0) != 0;
    if (record) std::fclose(record);
    record = nullptr;
    if (const char* path = std::getenv("BRAINS_FAKE_NIDAQMX_RECORD"); path && *path)
      record = std::fopen(path, "a");
    if (const char* path = std::getenv("BRAINS_FAKE_NIDAQMX_WIRING"); path && *path) read_wiring(path);
  }

  void read_wiring(const std::string& path) {
    std::ifstream in(path);
    if (!in) {
      wiring_error = "cannot read wiring file " + path;
      return;
    }
    std::string line;
    while (std::getline(in, line)) {
      const auto words = split(line.substr(0, line.find('#')), ' ');
      if (words.empty()) continue;
      Connection connection;
      if (words[0] == "loop") connection.loop = true;
      else if (words[0] != "dnpu") {
        wiring_error = "wiring " + path + ": unknown connection '" + words[0] + "'";
        return;
      }
      connection.model = std::make_shared<BuiltinModel>();
      for (std::size_t w = 1; w < words.size(); ++w) {
        const auto eq = words[w].find('=');
        const std::string key = words[w].substr(0, eq);
        const std::string value = eq == std::string::npos ? "" : words[w].substr(eq + 1);
        if (key == "ao") connection.ao = split(value, ',');
        else if (key == "ai") connection.ai = split(value, ',');
        else if (key == "gain") connection.gain = std::strtod(value.c_str(), nullptr);
        else if (key == "inverting") connection.inverting = value == "1";
        else if (key == "model" && value.rfind("mlp:", 0) == 0) {
          connection.model = load_mlp(value.substr(4), wiring_error);
          if (!connection.model) return;
        } else if (key != "model" || value != "builtin") {
          wiring_error = "wiring " + path + ": cannot read '" + words[w] + "'";
          return;
        }
      }
      if (connection.ao.empty() || connection.ai.empty() || (connection.loop && connection.ao.size() != 1)) {
        wiring_error = "wiring " + path + ": a connection needs ao= and ai= channels";
        return;
      }
      wiring.push_back(std::move(connection));
    }
  }

  void log(const std::string& line) {
    if (!record) return;
    std::fprintf(record, "%s\n", line.c_str());
    std::fflush(record);
  }

  // True when the fault `kind` fires at this occurrence of its event.
  bool fault_fires(const std::string& kind) {
    if (fault != kind) return false;
    const long long n = ++occurrences[kind];
    return n >= fault_at && (fault_count < 0 || n < fault_at + fault_count);
  }

  Task* find(TaskHandle handle) {
    const auto it = tasks.find(handle);
    return it == tasks.end() ? nullptr : it->second.get();
  }

  // The AO level of `physical` at time t.
  double level_at(const std::string& physical, double t) const {
    for (const auto& [handle, task] : tasks) {
      if (!task->output || !task->timed || task->state != State::running || t < task->t0) continue;
      for (std::size_t c = 0; c < task->channels.size(); ++c) {
        if (task->channels[c].physical != physical) continue;
        auto index = static_cast<long long>(std::floor((t - task->t0) * task->rate + 1e-9));
        index = std::min<long long>(index, static_cast<long long>(task->buffered) - 1);
        return task->buffer[c * task->buffered + static_cast<std::size_t>(index)];
      }
    }
    const auto it = levels.find(physical);
    return it == levels.end() ? 0.0 : it->second;
  }

  double input_at(const Task& task, std::size_t c, double t) const {
    const Channel& channel = task.channels[c];
    double volts = 0;
    for (const auto& connection : wiring) {
      const auto found = std::find(connection.ai.begin(), connection.ai.end(), channel.physical);
      if (found == connection.ai.end()) continue;
      if (connection.loop) {
        volts = task.loops_cut ? 0.0 : level_at(connection.ao.front(), t);
      } else {
        std::vector<double> v;
        for (const auto& ao : connection.ao) v.push_back(level_at(ao, t));
        const double current = connection.model->current(v.data(), static_cast<int>(v.size()),
                                                         static_cast<int>(found - connection.ai.begin()));
        volts = (connection.inverting ? -1.0 : 1.0) * current / connection.gain;
      }
      break;
    }
    return std::clamp(volts, channel.min, channel.max);
  }

  // Samples generated by an AO task up to time t (up to its last stop when stopped).
  uInt64 generated(const Task& task, double t) const {
    if (!task.timed || task.state == State::armed) return 0;
    double end = t;
    if (task.state != State::running) {
      if (task.stopped_at < 0) return 0;
      end = task.stopped_at;
    }
    if (end < task.t0) return 0;
    const auto n = static_cast<long long>(std::floor((end - task.t0) * task.rate + 1e-9)) + 1;
    return static_cast<uInt64>(std::clamp<long long>(n, 0, static_cast<long long>(task.buffered)));
  }

  // Holds the level each channel of an AO task has at time t, and stops it.
  void stop_output(Task& task, double t) {
    if (task.state == State::running && task.timed) {
      for (const auto& channel : task.channels) levels[channel.physical] = level_at(channel.physical, t);
      task.stopped_at = t;
    }
    task.state = State::idle;
  }

  const Task* reserved_by_other(const Task& task) const {
    for (const auto& [handle, other] : tasks) {
      if (other.get() == &task || other->state == State::idle) continue;
      for (const auto& a : other->channels)
        for (const auto& b : task.channels)
          if (a.physical == b.physical) return other.get();
    }
    return nullptr;
  }
};

Bench& bench() {
  static Bench instance;
  return instance;
}

std::string trigger_chassis(const std::string& terminal) {
  // "/cDAQ1/segment1/ai/StartTrigger" -> "cDAQ1"
  const auto parts = split(terminal, '/');
  return parts.empty() ? "" : parts.front();
}

bool valid_trigger(const std::string& terminal) {
  const auto parts = split(terminal, '/');
  return terminal.size() > 1 && terminal.front() == '/' && parts.size() >= 3 &&
         parts[parts.size() - 2] == "ai" && parts.back() == "StartTrigger";
}

bool starts_with(const std::string& text, const std::string& prefix) {
  return !prefix.empty() && text.rfind(prefix, 0) == 0;
}

#define LOCK_BENCH                                   \
  Bench& b = bench();                                \
  std::lock_guard<std::mutex> lock(b.mutex);         \
  if (!b.wiring_error.empty()) return fail(kErrorWiring, b.wiring_error)

#define FIND_TASK(handle)                                                         \
  Task* task = b.find(handle);                                                    \
  if (!task) return fail(kErrorInvalidTask, "Task specified is invalid or does not exist.")

int32 create_channel(TaskHandle handle, const char physical[], float64 min, float64 max,
                     bool output, int32 units) {
  LOCK_BENCH;
  FIND_TASK(handle);
  std::string device, kind;
  int number = 0;
  const std::string name = physical ? physical : "";
  if (!parse_physical(name, device, kind, number) || kind != (output ? "ao" : "ai") || number > 31)
    return fail(kErrorChannel, "Physical channel specified does not exist on this device.\n"
                               "Physical Channel Name: " + name + "\nTask Name: " + task->name);
  if (units != kVolts) return fail(kErrorArgument, "Units must be volts in the fake.");
  if (!(min < max) || std::abs(min) > 10.5 || std::abs(max) > 10.5)
    return fail(kErrorValue, "Requested range [" + std::to_string(min) + ", " + std::to_string(max) +
                                 "] V is not supported.\nPhysical Channel Name: " + name);
  if ((output && task->input) || (!output && task->output))
    return fail(kErrorArgument, "A task cannot mix input and output channels.\nTask Name: " + task->name);
  for (const auto& channel : task->channels)
    if (channel.physical == name) return fail(kErrorChannel, "Channel " + name + " is already in task " + task->name);
  task->output = output;
  task->input = !output;
  task->channels.push_back({name, min, max});
  b.channels.push_back({name, min, max, output});
  b.log(std::string(output ? "ao_channel " : "ai_channel ") + task->name + " " + name + " " +
        std::to_string(min) + " " + std::to_string(max));
  return 0;
}

// Starts an AI task at the current time: begins the outputs armed on its chassis.
void start_input(Bench& b, Task& task) {
  task.loops_cut = b.fault_fires("missing_spike");
  const bool late = b.fault_fires("late_spike");
  task.t0 = late ? b.now - b.late_spike_s : b.now + b.start_delay_s;
  task.state = State::running;
  task.read_pos = 0;
  const std::string device = device_of(task.channels.front().physical);
  for (auto& [handle, other] : b.tasks) {
    if (other->output && other->state == State::armed && starts_with(device, trigger_chassis(other->trigger))) {
      other->t0 = task.t0 + 1.0 / task.rate;
      other->state = State::running;
    }
  }
}

int32 start_task(Bench& b, Task& task) {
  if (task.state != State::idle) return 0;
  if (task.channels.empty()) return fail(kErrorArgument, "Task contains no channels.\nTask Name: " + task.name);
  if (!task.timed) return fail(kErrorArgument, "The fake starts timed tasks only.\nTask Name: " + task.name);
  if (b.fault_fires("start_error"))
    return fail(kErrorResourceReserved, "The specified resource is reserved (injected start_error).\nTask Name: " + task.name);
  if (const Task* other = b.reserved_by_other(task))
    return fail(kErrorResourceReserved, "The specified resource is reserved by task " + other->name + ".\nTask Name: " + task.name);
  if (task.output) {
    if (task.buffered != task.samples)
      return fail(kErrorArgument, "Finite output needs " + std::to_string(task.samples) + " samples written, got " +
                                      std::to_string(task.buffered) + ".\nTask Name: " + task.name);
    if (!task.trigger.empty()) {
      for (const auto& channel : task.channels)
        if (!starts_with(device_of(channel.physical), trigger_chassis(task.trigger)))
          return fail(kErrorRoute, "Route not supported by hardware: " + task.trigger + " to " +
                                       channel.physical + ".\nTask Name: " + task.name);
      task.state = State::armed;
    } else {
      task.t0 = b.now;
      task.state = State::running;
    }
    task.stopped_at = -1;
  } else {
    start_input(b, task);
  }
  b.log("start " + task.name);
  return 0;
}

}  // namespace

// ---------------------------------------------------------------------------------------
// The NI-DAQmx functions

FAKE_API int32 DAQmxCreateTask(const char taskName[], TaskHandle* taskHandle) {
  LOCK_BENCH;
  if (!taskHandle) return fail(kErrorArgument, "taskHandle is NULL");
  const std::string name = taskName ? taskName : "";
  for (const auto& [handle, task] : b.tasks)
    if (!name.empty() && task->name == name) return fail(kErrorArgument, "Task name " + name + " is already used.");
  auto task = std::make_unique<Task>();
  task->name = name.empty() ? "_unnamedTask<" + std::to_string(b.next_handle) + ">" : name;
  auto* handle = reinterpret_cast<TaskHandle>(b.next_handle++ * 16);
  b.log("create_task " + task->name);
  b.tasks.emplace(handle, std::move(task));
  *taskHandle = handle;
  return 0;
}

FAKE_API int32 DAQmxCreateAOVoltageChan(TaskHandle taskHandle, const char physicalChannel[],
                                        const char[], float64 minVal, float64 maxVal,
                                        int32 units, const char[]) {
  return create_channel(taskHandle, physicalChannel, minVal, maxVal, true, units);
}

FAKE_API int32 DAQmxCreateAIVoltageChan(TaskHandle taskHandle, const char physicalChannel[],
                                        const char[], int32 terminalConfig, float64 minVal,
                                        float64 maxVal, int32 units, const char[]) {
  if (terminalConfig != -1 && terminalConfig != 10083 && terminalConfig != 10078 &&
      terminalConfig != 10106 && terminalConfig != 12529)
    return fail(kErrorArgument, "Invalid terminal configuration " + std::to_string(terminalConfig));
  return create_channel(taskHandle, physicalChannel, minVal, maxVal, false, units);
}

FAKE_API int32 DAQmxCfgSampClkTiming(TaskHandle taskHandle, const char source[], float64 rate,
                                     int32 activeEdge, int32 sampleMode, uInt64 sampsPerChan) {
  LOCK_BENCH;
  FIND_TASK(taskHandle);
  const std::string clock = source ? source : "";
  if (!clock.empty() && clock != "OnboardClock")
    return fail(kErrorArgument, "The fake has the onboard clock only, got '" + clock + "'");
  if (!(rate > 0) || rate > 1e6) return fail(kErrorValue, "Sample rate " + std::to_string(rate) + " is not supported.");
  if (activeEdge != kRising && activeEdge != kFalling) return fail(kErrorArgument, "Invalid clock edge");
  if (sampleMode != kFiniteSamps) return fail(kErrorArgument, "The fake supports finite samples only");
  if (sampsPerChan < 1) return fail(kErrorValue, "Samples per channel must be at least 1 for finite timing");
  if (task->state != State::idle) return fail(kErrorArgument, "Cannot change the timing of a running task " + task->name);
  task->timed = true;
  task->rate = rate;
  task->samples = sampsPerChan;
  task->buffered = 0;
  task->buffer.clear();
  b.log("timing " + task->name + " " + std::to_string(rate) + " " + std::to_string(sampsPerChan));
  return 0;
}

FAKE_API int32 DAQmxCfgDigEdgeStartTrig(TaskHandle taskHandle, const char triggerSource[],
                                        int32 triggerEdge) {
  LOCK_BENCH;
  FIND_TASK(taskHandle);
  const std::string terminal = triggerSource ? triggerSource : "";
  if (!valid_trigger(terminal))
    return fail(kErrorRoute, "Source terminal to be routed could not be found: '" + terminal + "'");
  if (triggerEdge != kRising && triggerEdge != kFalling) return fail(kErrorArgument, "Invalid trigger edge");
  task->trigger = terminal;
  b.log("trigger " + task->name + " " + terminal);
  return 0;
}

FAKE_API int32 DAQmxWriteAnalogF64(TaskHandle taskHandle, int32 numSampsPerChan, bool32 autoStart,
                                   float64 timeout, bool32 dataLayout, const float64 writeArray[],
                                   int32* sampsPerChanWritten, bool32*) {
  LOCK_BENCH;
  FIND_TASK(taskHandle);
  if (sampsPerChanWritten) *sampsPerChanWritten = 0;
  if (!task->output || task->channels.empty()) return fail(kErrorArgument, "Task " + task->name + " has no output channels");
  if (numSampsPerChan < 1 || !writeArray) return fail(kErrorArgument, "Nothing to write");
  if (dataLayout != kGroupByChannel && dataLayout != kGroupByScanNumber) return fail(kErrorArgument, "Invalid data layout");
  if (!(timeout >= 0) && timeout != -1.0) return fail(kErrorArgument, "Invalid timeout");
  if (task->state != State::idle) return fail(kErrorArgument, "Cannot write to running task " + task->name);
  const std::size_t n = static_cast<std::size_t>(numSampsPerChan);
  const std::size_t channels = task->channels.size();
  std::vector<double> data(n * channels);
  for (std::size_t c = 0; c < channels; ++c)
    for (std::size_t i = 0; i < n; ++i)
      data[c * n + i] = dataLayout == kGroupByChannel ? writeArray[c * n + i] : writeArray[i * channels + c];
  WriteRecord record{task->name, {}, n, task->timed, data, {}};
  for (const auto& channel : task->channels) {
    record.channels.push_back(channel.physical);
    record.previous.push_back(b.level_at(channel.physical, b.now));
  }
  b.writes.push_back(record);
  if (b.record) {
    // Every sample, one line per channel: write <task> <timed|on_demand> <channel> <v0> <v1> ...
    for (std::size_t c = 0; c < channels; ++c) {
      std::fprintf(b.record, "write %s %s %s", task->name.c_str(), task->timed ? "timed" : "on_demand",
                   task->channels[c].physical.c_str());
      for (std::size_t i = 0; i < n; ++i) std::fprintf(b.record, " %.17g", data[c * n + i]);
      std::fputc('\n', b.record);
    }
    std::fflush(b.record);
  }
  for (std::size_t c = 0; c < channels; ++c)
    for (std::size_t i = 0; i < n; ++i) {
      const double v = data[c * n + i];
      if (!(v >= task->channels[c].min && v <= task->channels[c].max))
        return fail(kErrorValue, "Sample " + std::to_string(i) + " (" + std::to_string(v) + " V) is outside the limits [" +
                                     std::to_string(task->channels[c].min) + ", " + std::to_string(task->channels[c].max) +
                                     "] V of channel " + task->channels[c].physical + ".\nTask Name: " + task->name);
    }
  if (!task->timed) {
    // On-demand: each sample is applied as it is written.
    if (!autoStart) return fail(kErrorArgument, "On-demand writes need autoStart in the fake");
    if (const Task* other = b.reserved_by_other(*task))
      return fail(kErrorResourceReserved, "The specified resource is reserved by task " + other->name + ".\nTask Name: " + task->name);
    for (std::size_t c = 0; c < channels; ++c) b.levels[task->channels[c].physical] = data[c * n + n - 1];
    if (sampsPerChanWritten) *sampsPerChanWritten = numSampsPerChan;
    return 0;
  }
  if (b.fault_fires("write_error"))
    return fail(kErrorResourceReserved, "The specified resource is reserved (injected write_error).\nTask Name: " + task->name);
  if (n != task->samples)
    return fail(kErrorArgument, "Finite output of " + std::to_string(task->samples) + " samples, written " + std::to_string(n));
  task->buffer = std::move(data);
  task->buffered = n;
  if (sampsPerChanWritten) *sampsPerChanWritten = numSampsPerChan;
  if (autoStart) return start_task(b, *task);
  return 0;
}

FAKE_API int32 DAQmxReadAnalogF64(TaskHandle taskHandle, int32 numSampsPerChan, float64 timeout,
                                  bool32 fillMode, float64 readArray[], uInt32 arraySizeInSamps,
                                  int32* sampsPerChanRead, bool32*) {
  Bench& b = bench();
  std::unique_lock<std::mutex> lock(b.mutex);
  if (!b.wiring_error.empty()) return fail(kErrorWiring, b.wiring_error);
  FIND_TASK(taskHandle);
  if (sampsPerChanRead) *sampsPerChanRead = 0;
  if (!task->input) return fail(kErrorArgument, "Task " + task->name + " has no input channels");
  if (fillMode != kGroupByChannel && fillMode != kGroupByScanNumber) return fail(kErrorArgument, "Invalid fill mode");
  if (numSampsPerChan < 1) return fail(kErrorArgument, "The fake reads a given number of samples");
  const std::size_t channels = task->channels.size();
  const auto n = static_cast<uInt64>(numSampsPerChan);
  if (!readArray || arraySizeInSamps < n * channels)
    return fail(kErrorArgument, "Read array of " + std::to_string(arraySizeInSamps) + " samples is too small for " +
                                    std::to_string(n * channels));
  b.read_timeouts.push_back(timeout);
  if (task->state == State::idle) {
    // DAQmx Read starts a task that was not started.
    if (const int32 status = start_task(b, *task)) return status;
  }
  if (task->read_pos + n > task->samples)
    return fail(kErrorReadBeyondEnd, "Attempted to read samples beyond the end of the finite acquisition (" +
                                         std::to_string(task->samples) + " samples).\nTask Name: " + task->name);
  const bool timeout_fault = b.fault_fires("read_timeout");
  const bool short_fault = b.fault_fires("short_read");
  const bool signal_fault = b.fault_fires("signal");
  // Sample j is available once taken, at t0 + j/rate.
  const double ready = task->t0 + static_cast<double>(task->read_pos + n - 1) / task->rate;
  uInt64 count = n;
  int32 status = 0;
  double waited = std::max(0.0, ready - b.now);
  if (timeout_fault || (timeout >= 0 && waited > timeout + 1e-9)) {
    const double until = b.now + std::max(0.0, timeout);
    const double taken = std::floor((until - task->t0) * task->rate + 1e-9) + 1;
    count = timeout_fault ? 0 : static_cast<uInt64>(std::clamp<double>(taken - static_cast<double>(task->read_pos), 0.0, static_cast<double>(n)));
    waited = std::max(0.0, timeout);
    status = fail(kErrorTimedOut, "Some or all of the samples requested have not yet been acquired within the "
                                  "timeout of " + std::to_string(timeout) + " s.\nTask Name: " + task->name);
  } else if (short_fault) {
    count = n / 2;
  }
  for (uInt64 j = 0; j < count; ++j) {
    const double t = task->t0 + static_cast<double>(task->read_pos + j) / task->rate;
    for (std::size_t c = 0; c < channels; ++c) {
      const double v = b.input_at(*task, c, t);
      if (fillMode == kGroupByChannel) readArray[c * n + j] = v;
      else readArray[j * channels + c] = v;
    }
  }
  b.now += waited;
  task->read_pos += count;
  if (sampsPerChanRead) *sampsPerChanRead = static_cast<int32>(count);
  b.log("read " + task->name + " " + std::to_string(n) + " timeout=" + std::to_string(timeout) + " got=" +
        std::to_string(count) + " status=" + std::to_string(status));
  const bool realtime = b.realtime;
  lock.unlock();
  if (realtime && waited > 0) std::this_thread::sleep_for(std::chrono::duration<double>(waited));
  if (signal_fault) raise(SIGINT);
  return status;
}

FAKE_API int32 DAQmxWriteAnalogScalarF64(TaskHandle taskHandle, bool32 autoStart, float64 timeout,
                                         float64 value, bool32* reserved) {
  int32 written = 0;
  return DAQmxWriteAnalogF64(taskHandle, 1, autoStart, timeout, kGroupByChannel, &value, &written, reserved);
}

FAKE_API int32 DAQmxStartTask(TaskHandle taskHandle) {
  LOCK_BENCH;
  FIND_TASK(taskHandle);
  return start_task(b, *task);
}

FAKE_API int32 DAQmxStopTask(TaskHandle taskHandle) {
  LOCK_BENCH;
  FIND_TASK(taskHandle);
  if (task->output) b.stop_output(*task, b.now);
  task->state = State::idle;
  b.log("stop " + task->name);
  return 0;
}

FAKE_API int32 DAQmxClearTask(TaskHandle taskHandle) {
  LOCK_BENCH;
  FIND_TASK(taskHandle);
  if (task->output) b.stop_output(*task, b.now);
  b.log("clear " + task->name);
  b.tasks.erase(taskHandle);
  return 0;
}

FAKE_API int32 DAQmxWaitUntilTaskDone(TaskHandle taskHandle, float64 timeToWait) {
  LOCK_BENCH;
  FIND_TASK(taskHandle);
  if (task->state == State::idle) return 0;
  if (task->state == State::armed)
    return fail(kErrorNotDone, "The task is still waiting for its start trigger " + task->trigger + ".\nTask Name: " + task->name);
  const double end = task->t0 + static_cast<double>(task->output ? task->buffered : task->samples) / task->rate;
  if (end - b.now > timeToWait + 1e-9) {
    b.now += timeToWait;
    return fail(kErrorNotDone, "Wait Until Done did not indicate the task was done within " + std::to_string(timeToWait) +
                                   " s.\nTask Name: " + task->name);
  }
  b.now = std::max(b.now, end);
  return 0;
}

FAKE_API int32 DAQmxResetDevice(const char deviceName[]) {
  LOCK_BENCH;
  const std::string device = deviceName ? deviceName : "";
  ++b.resets[device];
  for (auto& [handle, task] : b.tasks)
    for (const auto& channel : task->channels)
      if (device_of(channel.physical) == device) task->state = State::idle;
  for (auto& [channel, level] : b.levels)
    if (device_of(channel) == device) level = 0.0;
  b.log("reset " + device);
  return 0;
}

FAKE_API int32 DAQmxGetWriteTotalSampPerChanGenerated(TaskHandle taskHandle, uInt64* data) {
  LOCK_BENCH;
  FIND_TASK(taskHandle);
  if (!data) return fail(kErrorArgument, "data is NULL");
  *data = task->output ? b.generated(*task, b.now) : 0;
  return 0;
}

FAKE_API int32 DAQmxGetErrorString(int32 errorCode, char errorString[], uInt32 bufferSize) {
  static const std::map<int32, std::string> messages{
      {kErrorTimedOut, "Wait Until Done did not indicate all samples were acquired (timed out)."},
      {kErrorInvalidTask, "Task specified is invalid or does not exist."},
      {kErrorResourceReserved, "The specified resource is reserved."},
      {kErrorRoute, "Route not supported by hardware."}};
  const auto it = messages.find(errorCode);
  const std::string text = it == messages.end() ? "Fake NI-DAQmx status " + std::to_string(errorCode) : it->second;
  if (!errorString || bufferSize == 0) return static_cast<int32>(text.size() + 1);
  std::snprintf(errorString, bufferSize, "%s", text.c_str());
  return 0;
}

FAKE_API int32 DAQmxGetExtendedErrorInfo(char errorString[], uInt32 bufferSize) {
  if (!errorString || bufferSize == 0) return static_cast<int32>(last_error.size() + 1);
  std::snprintf(errorString, bufferSize, "%s", last_error.c_str());
  return 0;
}

// ---------------------------------------------------------------------------------------
// Inspection, for tests in the same process

FAKE_API int fake_nidaqmx_reset(void) {
  Bench& b = bench();
  std::lock_guard<std::mutex> lock(b.mutex);
  b.configure();
  return b.wiring_error.empty() ? 0 : -1;
}

FAKE_API int fake_nidaqmx_open_task_count(void) {
  Bench& b = bench();
  std::lock_guard<std::mutex> lock(b.mutex);
  return static_cast<int>(b.tasks.size());
}

FAKE_API double fake_nidaqmx_output_level(const char* channel) {
  Bench& b = bench();
  std::lock_guard<std::mutex> lock(b.mutex);
  return b.level_at(channel, b.now);
}

FAKE_API int fake_nidaqmx_write_count(void) {
  Bench& b = bench();
  std::lock_guard<std::mutex> lock(b.mutex);
  return static_cast<int>(b.writes.size());
}

// Channels (comma-separated) and samples per channel of write `index`; -1 if out of range.
FAKE_API int fake_nidaqmx_write_info(int index, char* channels, unsigned size, long long* samples, int* timed) {
  Bench& b = bench();
  std::lock_guard<std::mutex> lock(b.mutex);
  if (index < 0 || index >= static_cast<int>(b.writes.size())) return -1;
  const WriteRecord& record = b.writes[static_cast<std::size_t>(index)];
  std::string names;
  for (const auto& name : record.channels) names += (names.empty() ? "" : ",") + name;
  if (channels && size) std::snprintf(channels, size, "%s", names.c_str());
  if (samples) *samples = static_cast<long long>(record.samples);
  if (timed) *timed = record.timed ? 1 : 0;
  return 0;
}

// The data of write `index`, grouped by channel, into out[size]; returns the values copied.
FAKE_API long long fake_nidaqmx_write_data(int index, double* out, unsigned long long size) {
  Bench& b = bench();
  std::lock_guard<std::mutex> lock(b.mutex);
  if (index < 0 || index >= static_cast<int>(b.writes.size())) return -1;
  const auto& data = b.writes[static_cast<std::size_t>(index)].data;
  const auto n = std::min<unsigned long long>(size, data.size());
  std::copy_n(data.begin(), n, out);
  return static_cast<long long>(n);
}

// Each channel's output level when write `index` came; returns the values copied.
FAKE_API long long fake_nidaqmx_write_previous(int index, double* out, unsigned long long size) {
  Bench& b = bench();
  std::lock_guard<std::mutex> lock(b.mutex);
  if (index < 0 || index >= static_cast<int>(b.writes.size())) return -1;
  const auto& previous = b.writes[static_cast<std::size_t>(index)].previous;
  const auto n = std::min<unsigned long long>(size, previous.size());
  std::copy_n(previous.begin(), n, out);
  return static_cast<long long>(n);
}

FAKE_API int fake_nidaqmx_channel_count(void) {
  Bench& b = bench();
  std::lock_guard<std::mutex> lock(b.mutex);
  return static_cast<int>(b.channels.size());
}

// Channel `index` as created (name, limits, output or input); -1 if out of range.
FAKE_API int fake_nidaqmx_channel_info(int index, char* name, unsigned size, double* min, double* max, int* output) {
  Bench& b = bench();
  std::lock_guard<std::mutex> lock(b.mutex);
  if (index < 0 || index >= static_cast<int>(b.channels.size())) return -1;
  const ChannelRecord& channel = b.channels[static_cast<std::size_t>(index)];
  if (name && size) std::snprintf(name, size, "%s", channel.physical.c_str());
  if (min) *min = channel.min;
  if (max) *max = channel.max;
  if (output) *output = channel.output ? 1 : 0;
  return 0;
}

FAKE_API int fake_nidaqmx_read_count(void) {
  Bench& b = bench();
  std::lock_guard<std::mutex> lock(b.mutex);
  return static_cast<int>(b.read_timeouts.size());
}

FAKE_API double fake_nidaqmx_read_timeout(int index) {
  Bench& b = bench();
  std::lock_guard<std::mutex> lock(b.mutex);
  if (index < 0 || index >= static_cast<int>(b.read_timeouts.size())) return -1;
  return b.read_timeouts[static_cast<std::size_t>(index)];
}

FAKE_API int fake_nidaqmx_reset_count(const char* device) {
  Bench& b = bench();
  std::lock_guard<std::mutex> lock(b.mutex);
  const auto it = b.resets.find(device ? device : "");
  return it == b.resets.end() ? 0 : it->second;
}

FAKE_API double fake_nidaqmx_now(void) {
  Bench& b = bench();
  std::lock_guard<std::mutex> lock(b.mutex);
  return b.now;
}

// The currents (nA) of the `device`-th dnpu of the wiring for electrode voltages v[0..n),
// into out; returns the number of outputs, or -1.
FAKE_API int fake_nidaqmx_device_current(int device, const double* v, int n, double* out) {
  Bench& b = bench();
  std::lock_guard<std::mutex> lock(b.mutex);
  int seen = 0;
  for (const auto& connection : b.wiring) {
    if (connection.loop) continue;
    if (seen++ != device) continue;
    if (n != static_cast<int>(connection.ao.size())) return -1;
    for (std::size_t o = 0; o < connection.ai.size(); ++o)
      out[o] = connection.model->current(v, n, static_cast<int>(o));
    return static_cast<int>(connection.ai.size());
  }
  return -1;
}
