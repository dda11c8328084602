// brains sample and brains consistency as a user runs them: a child `brains sample` stopped by
// SIGINT exits with 130 and resumes to the IO.dat an uninterrupted run writes.
#include <ATen/ATen.h>
#include <fcntl.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <signal.h>
#include <spawn.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <fstream>
#include <sstream>
#include <string>
#include <thread>
#include <vector>

#include "brains/core/error.h"
#include "brains/io/io_dat.h"
#include "brains/io/npz.h"
#include "brains/processors/surrogate_file.h"
#include "brains/smg/sampler.h"
#include "brains/smg/sampler_state.h"
#include "support/fixture_surrogate.h"
#include "support/run_command.h"
#include "support/temp_dir.h"

extern char** environ;

namespace brains::smg {
namespace {

namespace fs = std::filesystem;
using ::testing::HasSubstr;

std::string slurp(const fs::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The fixture surrogate as a training_data.pt, and a sampling config for it.
fs::path write_setup(const testing::TempDir& dir, std::int64_t batches) {
  processors::SurrogateFile file;
  file.info = testing::fixture_info();
  file.model_state_dict = testing::fixture_state_dict();
  file.extras = io::PyValue::dict();
  file.save(dir / "model.pt");
  return dir.write("sampling.yaml", "data_name: cli\nseed: 5\nplot_interval: 0\nprocessor_type: simulation_debug\n"
                                    "model_dir: " + (dir / "model.pt").string() + "\n"
                                    "driver:\n  instruments_setup:\n    activation_sampling_frequency: 1000\n"
                                    "input_data:\n  input_distribution: sine\n  phase: random\n"
                                    "  random_phase_shift_each: 7\n  batch_time: 0.05\n  ramp_time: 0.01\n"
                                    "  number_batches: " + std::to_string(batches) + "\n");
}

// The run a config describes, sampled in this process (the library behind the CLI): the
// reference data, without paying for another CLI start.
fs::path sample_here(const fs::path& config, const fs::path& out) {
  const Config configs = Config::load(config);
  SampleRequest request;
  request.out = out;
  request.progress = false;
  return sample(configs, make_sampling_processor(configs), request).run_dir;
}

fs::path only_entry(const fs::path& dir) {
  fs::path found;
  for (const auto& entry : fs::directory_iterator(dir)) found = entry.path();
  return found;
}

struct Child {
  pid_t pid = -1;
  int wait() const {
    int status = 0;
    ::waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
  }
};

Child spawn_brains(const std::vector<std::string>& arguments, const fs::path& stderr_file) {
  std::vector<std::string> all{BRAINS_CLI};
  all.insert(all.end(), arguments.begin(), arguments.end());
  std::vector<char*> argv;
  for (auto& a : all) argv.push_back(a.data());
  argv.push_back(nullptr);
  posix_spawn_file_actions_t actions;
  posix_spawn_file_actions_init(&actions);
  posix_spawn_file_actions_addopen(&actions, STDOUT_FILENO, "/dev/null", O_WRONLY, 0);
  posix_spawn_file_actions_addopen(&actions, STDERR_FILENO, stderr_file.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
  Child child;
  const int error = posix_spawn(&child.pid, argv[0], &actions, nullptr, argv.data(), environ);
  posix_spawn_file_actions_destroy(&actions);
  EXPECT_EQ(error, 0);
  return child;
}

TEST(SampleCli, SigintThenResumeGivesTheUninterruptedData) {
  testing::TempDir dir;
  constexpr std::int64_t kBatches = 120;
  const fs::path config = write_setup(dir, kBatches);

  const fs::path full_run = sample_here(config, dir / "full");

  // The same run in a child, stopped by SIGINT once a few batches are on disk.
  fs::create_directories(dir / "interrupted");
  const Child child = spawn_brains({"sample", "--config", config.string(), "--out", (dir / "interrupted").string()},
                                   dir / "child.err");
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  std::int64_t done_when_signalled = -1;
  while (std::chrono::steady_clock::now() < deadline) {
    const fs::path run = fs::exists(dir / "interrupted") ? only_entry(dir / "interrupted") : fs::path();
    if (!run.empty() && fs::exists(run / kSamplerStateFile)) {
      try {
        done_when_signalled = load_sampler_state(run / kSamplerStateFile).batches_done;
      } catch (const FormatError&) {
      }
      if (done_when_signalled >= 3) break;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  ASSERT_GE(done_when_signalled, 3) << "the child did not get going: " << slurp(dir / "child.err");
  ::kill(child.pid, SIGINT);
  const int code = child.wait();
  const fs::path run = only_entry(dir / "interrupted");
  const SamplerState state = load_sampler_state(run / kSamplerStateFile);
  if (code == 0) {
    ASSERT_TRUE(state.finished);
    GTEST_SKIP() << "the child finished all " << kBatches << " batches before SIGINT arrived";
  }
  EXPECT_EQ(code, 130) << slurp(dir / "child.err");
  const std::string err = slurp(dir / "child.err");
  EXPECT_THAT(err, HasSubstr("sampling interrupted"));
  EXPECT_THAT(err, HasSubstr("--resume " + run.string()));
  EXPECT_FALSE(state.finished);
  EXPECT_GE(state.batches_done, done_when_signalled);
  // The data on disk is exactly the complete batches the state names.
  EXPECT_EQ(io::read_io_dat(run / "IO.dat", 7, 1).inputs.size(0), state.batches_done * 50);

  const auto resumed = testing::run_brains("sample --resume '" + run.string() + "' --quiet");
  ASSERT_EQ(resumed.exit_code, 0) << resumed.err;
  EXPECT_THAT(resumed.out, HasSubstr(run.string()));
  EXPECT_EQ(slurp(run / "IO.dat"), slurp(full_run / "IO.dat"));
  EXPECT_EQ(slurp(run / "batch_phases.dat"), slurp(full_run / "batch_phases.dat"));
}

TEST(SampleCli, BadConfigIsAOneLineErrorWithExitCode2) {
  testing::TempDir dir;
  const fs::path config = write_setup(dir, 3);
  std::string text = slurp(config);
  text.replace(text.find("batch_time: 0.05"), 16, "batch_time: 0.0625");
  dir.write("bad.yaml", text);
  const auto bad = testing::run_brains("sample --config '" + (dir / "bad.yaml").string() + "' --out '" +
                                       (dir / "out").string() + "'");
  EXPECT_EQ(bad.exit_code, 2);
  EXPECT_THAT(bad.err, HasSubstr("input_data.batch_time: 0.0625 s × 1000 Hz = 62.5 samples, not a whole number"));
  EXPECT_FALSE(fs::exists(dir / "out"));  // nothing created
  EXPECT_EQ(std::count(bad.err.begin(), bad.err.end(), '\n'), 1) << bad.err;
}

TEST(SampleCli, CorruptedStateFileOnResumeIsAOneLineErrorWithExitCode2) {
  testing::TempDir dir;
  const fs::path run = sample_here(write_setup(dir, 3), dir / "ok");
  std::ofstream(run / kSamplerStateFile, std::ios::trunc) << "{\"format\": \"brains.sampler_state\", \"vers";
  const auto corrupted = testing::run_brains("sample --resume '" + run.string() + "'");
  EXPECT_EQ(corrupted.exit_code, 2);
  EXPECT_THAT(corrupted.err, HasSubstr((run / kSamplerStateFile).string()));
  EXPECT_THAT(corrupted.err, HasSubstr("not valid JSON"));
  EXPECT_EQ(std::count(corrupted.err.begin(), corrupted.err.end(), '\n'), 1) << corrupted.err;
}

TEST(ConsistencyCli, ReplaysTheReferenceOfASamplingRun) {
  testing::TempDir dir;
  const fs::path config = write_setup(dir, 4);
  const fs::path run = sample_here(config, dir / "runs");
  // The last two batches as the reference and all four as the charging signal, as
  // post-processing stores them.
  const io::IoData data = io::read_io_dat(run / "IO.dat", 7, 1);
  io::write_npz(run / "reference_batch.npz", std::vector<std::pair<std::string, at::Tensor>>{
                                                 {"inputs", data.inputs.narrow(0, 100, 100)},
                                                 {"outputs", data.outputs.narrow(0, 100, 100)}});
  io::write_npz(run / "charging_signal.npz",
                std::vector<std::pair<std::string, at::Tensor>>{{"inputs", data.inputs}, {"outputs", data.outputs}});
  dir.write("consistency.yaml", "data_dir: " + run.string() + "\nrepetitions: 2\nmodel: " + (dir / "model.pt").string() + "\n");
  const auto checked = testing::run_brains("consistency --config '" + (dir / "consistency.yaml").string() + "' --quiet");
  ASSERT_EQ(checked.exit_code, 0) << checked.err;
  EXPECT_THAT(checked.out, HasSubstr("output 0: RMSE 0 nA, correlation 1.0000; model RMSE"));
  fs::path check_dir;
  for (const auto& entry : fs::directory_iterator(run))
    if (entry.path().filename().string().rfind("consistency_check_", 0) == 0) check_dir = entry.path();
  ASSERT_FALSE(check_dir.empty());
  const io::NpzFile results = io::read_npz(check_dir / "consistency_results.npz");
  EXPECT_EQ(results.tensor("results").sizes(), (std::vector<std::int64_t>{2, 100, 1}));
  EXPECT_EQ(results.tensor("deviation_chargeup").sizes(), (std::vector<std::int64_t>{4, 1}));
  EXPECT_TRUE(fs::exists(check_dir / "consistency_summary.json"));
  EXPECT_TRUE(fs::exists(check_dir / "consistency_check.csv"));
}

}  // namespace
}  // namespace brains::smg
