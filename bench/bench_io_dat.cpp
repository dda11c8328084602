// IO.dat parse speed: a 200k-row × 8-column file as the sampler writes it (%.18e).
// numpy.loadtxt manages about 350k rows/s on such a file.
#include <ATen/ATen.h>
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>

#include "brains/io/io_dat.h"

namespace {

constexpr std::int64_t kRows = 200000;
constexpr std::int64_t kInputs = 7;
constexpr std::int64_t kOutputs = 1;

// Written once per process and removed at exit.
class SampleFile {
 public:
  SampleFile() {
    std::string pattern = (std::filesystem::temp_directory_path() / "brains-bench-XXXXXX").string();
    dir_ = ::mkdtemp(pattern.data());
    file_ = dir_ / "IO.dat";
    at::manual_seed(0);
    brains::io::write_io_dat_header(file_, kInputs, kOutputs);
    for (std::int64_t done = 0; done < kRows; done += 10000)
      brains::io::append_io_dat_rows(file_, at::rand({10000, kInputs}, at::kDouble) * 2 - 1,
                                     at::randn({10000, kOutputs}, at::kDouble) * 50);
  }
  ~SampleFile() {
    std::error_code ignored;
    std::filesystem::remove_all(dir_, ignored);
  }
  const std::filesystem::path& path() const { return file_; }

 private:
  std::filesystem::path dir_, file_;
};

const SampleFile& sample_file() {
  static const SampleFile file;
  return file;
}

void BM_ReadIoDat(benchmark::State& state) {
  const auto& file = sample_file().path();
  for (auto _ : state) {
    auto data = brains::io::read_io_dat(file, kInputs, kOutputs);
    benchmark::DoNotOptimize(data.inputs.data_ptr());
  }
  state.counters["rows/s"] =
      benchmark::Counter(static_cast<double>(kRows), benchmark::Counter::kIsIterationInvariantRate);
  state.SetBytesProcessed(state.iterations() *
                          static_cast<std::int64_t>(std::filesystem::file_size(file)));
}
BENCHMARK(BM_ReadIoDat)->Unit(benchmark::kMillisecond)->UseRealTime();

void BM_FormatIoDatRows(benchmark::State& state) {
  at::manual_seed(0);
  const at::Tensor inputs = at::rand({10000, kInputs}, at::kDouble);
  const at::Tensor outputs = at::randn({10000, kOutputs}, at::kDouble);
  for (auto _ : state) benchmark::DoNotOptimize(brains::io::format_io_dat_rows(inputs, outputs));
  state.counters["rows/s"] =
      benchmark::Counter(10000.0, benchmark::Counter::kIsIterationInvariantRate);
}
BENCHMARK(BM_FormatIoDatRows)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace

BENCHMARK_MAIN();
