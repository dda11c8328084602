// Run directories, seeding, progress bars, logging and the error hierarchy.
#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <csignal>
#include <fstream>
#include <set>
#include <sstream>
#include <thread>

#include "brains/core/error.h"
#include "brains/core/interrupt.h"
#include "brains/core/log.h"
#include "brains/core/progress.h"
#include "brains/core/run_directory.h"
#include "brains/core/seed.h"
#include "support/temp_dir.h"

namespace brains {
namespace {

using ::testing::HasSubstr;
using ::testing::MatchesRegex;

TEST(RunDirectory, NamedByTimestampAndNeverReused) {
  testing::TempDir dir;
  const auto now = std::chrono::system_clock::now();
  const auto first = create_run_directory(dir / "results", "boolean", now);
  const auto second = create_run_directory(dir / "results", "boolean", now);
  const auto third = create_run_directory(dir / "results", "boolean", now);
  EXPECT_THAT(first.filename().string(), MatchesRegex("boolean_[0-9]{4}_[0-9]{2}_[0-9]{2}_[0-9]{6}"));
  EXPECT_EQ(second.filename().string(), first.filename().string() + "_2");
  EXPECT_EQ(third.filename().string(), first.filename().string() + "_3");
  EXPECT_TRUE(std::filesystem::is_directory(third));
}

TEST(RunDirectory, RejectsNamesWithSeparators) {
  testing::TempDir dir;
  EXPECT_THROW(create_run_directory(dir.path(), "../escape"), ArgumentError);
  EXPECT_THROW(create_run_directory(dir.path(), ""), ArgumentError);
}

TEST(Seed, SameSeedSameTorchNumbers) {
  EXPECT_EQ(seed_everything(1234), 1234u);
  const at::Tensor a = at::rand({5});
  seed_everything(1234);
  const at::Tensor b = at::rand({5});
  EXPECT_TRUE(at::equal(a, b));
  seed_everything(4321);
  EXPECT_FALSE(at::equal(a, at::rand({5})));
}

TEST(Seed, DrawsAndReportsASeedWhenNoneGiven) {
  const std::uint64_t used = seed_everything();
  const at::Tensor a = at::rand({3});
  seed_everything(used);
  EXPECT_TRUE(at::equal(a, at::rand({3})));
}

TEST(Seed, StreamsAreIndependentAndReproducible) {
  auto ga = make_rng(7, "ga");
  auto ga_again = make_rng(7, "ga");
  auto noise = make_rng(7, "noise");
  const auto first = ga();
  EXPECT_EQ(first, ga_again());
  EXPECT_NE(first, noise());
  EXPECT_NE(make_rng(8, "ga")(), first);
}

TEST(Progress, EtaFromTheMeanRate) {
  ProgressBar bar("sampling", 10, /*enabled=*/false);
  EXPECT_LT(bar.eta_seconds(), 0.0);
  std::this_thread::sleep_for(std::chrono::milliseconds(20));
  bar.advance(5);
  // Half done after ~20 ms: about 20 ms left.
  EXPECT_GT(bar.eta_seconds(), 0.015);
  EXPECT_LT(bar.eta_seconds(), 1.0);
  EXPECT_THAT(bar.render(), HasSubstr("sampling ["));
  EXPECT_THAT(bar.render(), HasSubstr("5/10  50%"));
  bar.advance(100);  // never past the total
  EXPECT_EQ(bar.done(), 10);
  EXPECT_EQ(bar.eta_seconds(), 0.0);
}

TEST(Progress, DisabledWhenQuietOrNotATerminal) {
  log::set_quiet(true);
  EXPECT_FALSE(progress_enabled());
  log::set_quiet(false);
  // ctest captures stderr, so it is not a terminal here.
  EXPECT_FALSE(progress_enabled());
}

TEST(Progress, DurationFormat) {
  EXPECT_EQ(format_duration(48.1), "0:00:48");
  EXPECT_EQ(format_duration(3725), "1:02:05");
  EXPECT_EQ(format_duration(-1), "--:--");
}

TEST(Log, WritesToTheRunLog) {
  testing::TempDir dir;
  {
    log::FileSink sink(dir / "run.log");
    log::info("epoch {} loss {:.3f}", 3, 0.25);
    log::debug("not in the file");
  }
  log::info("after the sink is gone");
  std::ifstream in(dir / "run.log");
  std::stringstream text;
  text << in.rdbuf();
  EXPECT_THAT(text.str(), HasSubstr("info: epoch 3 loss 0.250"));
  EXPECT_THAT(text.str(), ::testing::Not(HasSubstr("not in the file")));
  EXPECT_THAT(text.str(), ::testing::Not(HasSubstr("after the sink")));
}

TEST(Errors, MessagesAndExitCodes) {
  const ConfigError config("processor.waveform.slope_length", "expected an integer, got '-3'");
  EXPECT_STREQ(config.what(), "processor.waveform.slope_length: expected an integer, got '-3'");
  const FormatError format("IO.dat", "line 12", "non-numeric token 'abc'");
  EXPECT_STREQ(format.what(), "IO.dat: line 12: non-numeric token 'abc'");
  EXPECT_EQ(format.position(), "line 12");
  EXPECT_EQ(exit_code_for(config), 2);
  EXPECT_EQ(exit_code_for(format), 2);
  EXPECT_EQ(exit_code_for(SafetyError("too high")), 3);
  EXPECT_EQ(exit_code_for(HardwareError("no device")), 1);
  EXPECT_EQ(exit_code_for(InterruptedError("sampling interrupted")), 130);
  EXPECT_EQ(exit_code_for(std::runtime_error("other")), 1);
}

TEST(Interrupt, FlagRaisesInterruptedError) {
  install_interrupt_handlers();
  clear_interrupt();
  EXPECT_NO_THROW(throw_if_interrupted("sampling"));
  std::raise(SIGINT);
  EXPECT_TRUE(interrupt_requested());
  EXPECT_THROW(throw_if_interrupted("sampling"), InterruptedError);
  clear_interrupt();
  EXPECT_FALSE(interrupt_requested());
}

}  // namespace
}  // namespace brains
