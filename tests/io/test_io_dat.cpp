#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <cmath>
#include <cstring>
#include <fstream>
#include <limits>
#include <random>
#include <sstream>

#include "brains/core/error.h"
#include "brains/io/io_dat.h"
#include "support/temp_dir.h"

namespace brains::io {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;

std::filesystem::path reference_io_dat() {
  return testing::reference_dir() / "upstream-files" / "smg" / "IO.dat";
}

std::string slurp(const std::filesystem::path& file) {
  std::ifstream in(file, std::ios::binary);
  std::stringstream text;
  text << in.rdbuf();
  return text.str();
}

// The message of the FormatError that `read` throws, or a failure.
template <typename Read>
std::string format_error_of(Read read) {
  try {
    read();
  } catch (const FormatError& error) {
    return error.what();
  }
  ADD_FAILURE() << "no FormatError thrown";
  return {};
}

bool bitwise_equal(const at::Tensor& a, const at::Tensor& b) {
  return a.sizes() == b.sizes() && a.scalar_type() == b.scalar_type() &&
         std::memcmp(a.contiguous().data_ptr(), b.contiguous().data_ptr(),
                     a.numel() * a.element_size()) == 0;
}

TEST(IoDat, ReadsReferenceFile) {
  const IoData data = read_io_dat(reference_io_dat(), 7, 1);
  ASSERT_EQ(data.inputs.sizes(), (at::IntArrayRef{100, 7}));
  ASSERT_EQ(data.outputs.sizes(), (at::IntArrayRef{100, 1}));
  EXPECT_EQ(data.inputs.scalar_type(), at::kDouble);
  EXPECT_THAT(data.header, ::testing::ElementsAre("Input 0", "Input 1", "Input 2", "Input 3",
                                                  "Input 4", "Input 5", "Input 6", "Output 0"));

  // First row, parsed with correct rounding: equal to the compiler's reading of the text.
  const double first[] = {1.459155902616469935e-02, -7.188733853924703099e-02,
                          3.173803043943843050e-01, -4.490141162659539442e-01,
                          1.901267873219528171e-01, -5.035211504108167979e-01,
                          7.111549814728780339e-01};
  for (int c = 0; c < 7; ++c) EXPECT_EQ(data.inputs[0][c].item<double>(), first[c]) << c;
  EXPECT_EQ(data.outputs[0][0].item<double>(), -2.412919545934364418e-01);

  // Spec §5.2 statistics.
  const double input_min[] = {0.01459, -0.07189, 0.31738, -0.44901, 0.03194, -0.50352, -0.18250};
  const double input_max[] = {0.51862, 0.54542, 1.09687, 0.78205, 0.69825, 0.39644, 1.29699};
  const at::Tensor mins = std::get<0>(data.inputs.min(0));
  const at::Tensor maxs = std::get<0>(data.inputs.max(0));
  for (int c = 0; c < 7; ++c) {
    EXPECT_NEAR(mins[c].item<double>(), input_min[c], 1e-5) << c;
    EXPECT_NEAR(maxs[c].item<double>(), input_max[c], 1e-5) << c;
  }
  EXPECT_NEAR(data.outputs.min().item<double>(), -0.2412919546, 1e-10);
  EXPECT_NEAR(data.outputs.max().item<double>(), 6.3265903968, 1e-10);
  EXPECT_NEAR(data.outputs.mean().item<double>(), 1.29883, 1e-5);
}

TEST(IoDat, InfersCountsFromHeader) {
  const IoData inferred = read_io_dat(reference_io_dat());
  const IoData given = read_io_dat(reference_io_dat(), 7, 1);
  EXPECT_TRUE(bitwise_equal(inferred.inputs, given.inputs));
  EXPECT_TRUE(bitwise_equal(inferred.outputs, given.outputs));
}

TEST(IoDat, HeaderMatchesUpstreamGetHeader) {
  EXPECT_EQ(io_dat_column_names(7, 1),
            "Input 0, Input 1, Input 2, Input 3, Input 4, Input 5, Input 6, Output 0");
  EXPECT_EQ(io_dat_header(2, 2), "# Input 0, Input 1, Output 0, Output 1\n");
  const std::string names = io_dat_column_names(7, 7);
  EXPECT_EQ(std::count(names.begin(), names.end(), ',') + 1, 14);
}

TEST(IoDat, RewritesReferenceByteForByte) {
  const TempDir dir;
  const IoData data = read_io_dat(reference_io_dat(), 7, 1);
  const auto file = dir / "IO.dat";
  write_io_dat_header(file, 7, 1);
  append_io_dat_rows(file, data.inputs.narrow(0, 0, 40), data.outputs.narrow(0, 0, 40));
  append_io_dat_rows(file, data.inputs.narrow(0, 40, 60), data.outputs.narrow(0, 40, 60));
  EXPECT_EQ(slurp(file), slurp(reference_io_dat()));
}

TEST(IoDat, RoundTripIsBitwiseExact) {
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<std::uint64_t> bits;
  at::Tensor inputs = at::empty({500, 5}, at::kDouble);
  at::Tensor outputs = at::empty({500, 2}, at::kDouble);
  // Random bit patterns cover subnormals and extreme exponents; NaNs are replaced below.
  for (at::Tensor* t : {&inputs, &outputs}) {
    double* p = t->data_ptr<double>();
    for (std::int64_t i = 0; i < t->numel(); ++i) {
      std::uint64_t pattern = bits(rng);
      std::memcpy(&p[i], &pattern, sizeof pattern);
      if (std::isnan(p[i])) p[i] = 0.0;
    }
  }
  inputs[0][0] = -0.0;
  inputs[0][1] = std::numeric_limits<double>::infinity();
  inputs[0][2] = -std::numeric_limits<double>::infinity();
  inputs[0][3] = std::numeric_limits<double>::denorm_min();
  inputs[0][4] = std::numeric_limits<double>::max();
  outputs[0][0] = 0.1;
  outputs[0][1] = std::numeric_limits<double>::quiet_NaN();

  const TempDir dir;
  const auto file = dir / "IO.dat";
  write_io_dat_header(file, 5, 2);
  append_io_dat_rows(file, inputs, outputs);
  const IoData back = read_io_dat(file, 5, 2);
  EXPECT_TRUE(std::isnan(back.outputs[0][1].item<double>()));
  back.outputs[0][1] = outputs[0][1];
  EXPECT_TRUE(bitwise_equal(back.inputs, inputs));
  EXPECT_TRUE(bitwise_equal(back.outputs, outputs));
  EXPECT_THAT(format_io_dat_rows(inputs.narrow(0, 0, 1), outputs.narrow(0, 0, 1)),
              ::testing::StartsWith("-0.000000000000000000e+00 inf -inf "
                                    "4.940656458412465442e-324 1.797693134862315708e+308 "
                                    "1.000000000000000056e-01 nan\n"));
}

TEST(IoDat, AcceptsCrLfBlanksCommentsAndPlusSigns) {
  const TempDir dir;
  const auto file = dir.write("IO.dat",
                              "# recorded by hand, device 3\r\n"
                              "# Input 0, Input 1, Output 0\r\n"
                              "#\r\n"
                              "1.5 -2e-1  3 \r\n"
                              "\r\n"
                              "\t+4.0\t5.0 6.0e+00\t\r\n"
                              "1e-400 -1e400 7\n");
  const IoData data = read_io_dat(file);
  ASSERT_EQ(data.inputs.sizes(), (at::IntArrayRef{3, 2}));
  EXPECT_EQ(data.inputs[0][0].item<double>(), 1.5);
  EXPECT_EQ(data.inputs[0][1].item<double>(), -0.2);
  EXPECT_EQ(data.outputs[0][0].item<double>(), 3.0);
  EXPECT_EQ(data.inputs[1][0].item<double>(), 4.0);
  EXPECT_EQ(data.outputs[1][0].item<double>(), 6.0);
  EXPECT_EQ(data.inputs[2][0].item<double>(), 0.0);  // underflow, as numpy
  EXPECT_EQ(data.inputs[2][1].item<double>(), -std::numeric_limits<double>::infinity());
  EXPECT_EQ(data.header.size(), 3u);
}

TEST(IoDat, HeaderOnlyIsEmptyData) {
  const TempDir dir;
  const auto file = dir / "IO.dat";
  write_io_dat_header(file, 7, 1);
  const IoData data = read_io_dat(file, 7, 1);
  EXPECT_EQ(data.inputs.sizes(), (at::IntArrayRef{0, 7}));
  EXPECT_EQ(data.outputs.sizes(), (at::IntArrayRef{0, 1}));
  EXPECT_EQ(read_io_dat(file).inputs.size(1), 7);
}

TEST(IoDat, FileWithoutHeaderReadsWithGivenCounts) {
  const TempDir dir;
  const auto file = dir.write("IO.dat", "1 2 3\n4 5 6\n");
  const IoData data = read_io_dat(file, 2, 1);
  EXPECT_EQ(data.inputs.sizes(), (at::IntArrayRef{2, 2}));
  EXPECT_TRUE(data.header.empty());
  EXPECT_THAT(format_error_of([&] { read_io_dat(file); }), HasSubstr("no '# Input 0"));
}

TEST(IoDat, RaggedRowNamesItsLine) {
  const TempDir dir;
  const auto file = dir.write("IO.dat", "# Input 0, Input 1, Output 0\n1 2 3\n4 5\n7 8 9\n");
  const std::string message = format_error_of([&] { read_io_dat(file, 2, 1); });
  EXPECT_THAT(message, HasSubstr("line 3"));
  EXPECT_THAT(message, HasSubstr("expected 3 values (2 inputs + 1 output), found 2"));
  const auto long_row = dir.write("long.dat", "1 2 3\n4 5 6 7\n");
  EXPECT_THAT(format_error_of([&] { read_io_dat(long_row, 2, 1); }),
              HasSubstr("line 2: cannot read row: expected 3 values (2 inputs + 1 output), "
                        "found 4"));
}

TEST(IoDat, NonNumericTokenNamesLineAndColumn) {
  const TempDir dir;
  const auto file = dir.write("IO.dat", "# Input 0, Input 1, Output 0\n1.0 abc 2.0\n");
  const std::string message = format_error_of([&] { read_io_dat(file, 2, 1); });
  EXPECT_THAT(message, HasSubstr(file.string() + ": line 2: cannot parse 'abc' as a number "
                                                 "(column 2)"));
  const auto glued = dir.write("glued.dat", "1.0 2.0x 3.0\n");
  EXPECT_THAT(format_error_of([&] { read_io_dat(glued, 2, 1); }), HasSubstr("line 1"));
  const auto comment = dir.write("comment.dat", "1 2 3\n# late comment\n");
  EXPECT_THAT(format_error_of([&] { read_io_dat(comment, 2, 1); }),
              HasSubstr("line 2: cannot parse '#'"));
}

TEST(IoDat, WrongCountsVersusHeader) {
  // Upstream's test reads the 7-input reference file with 3 inputs and expects a failure.
  const std::string message = format_error_of([&] { read_io_dat(reference_io_dat(), 3, 1); });
  EXPECT_THAT(message, HasSubstr("line 1"));
  EXPECT_THAT(message, HasSubstr("7 inputs + 1 output columns, expected 3 inputs + 1 output"));
  const TempDir dir;
  const auto file = dir.write("IO.dat", "# Output 0, Input 0\n");
  EXPECT_THAT(format_error_of([&] { read_io_dat(file); }), HasSubstr("follows an output"));
}

TEST(IoDat, MissingFileNamesTheFile) {
  const TempDir dir;
  const auto file = dir / "missing" / "IO.dat";
  const std::string message = format_error_of([&] { read_io_dat(file, 7, 1); });
  EXPECT_THAT(message, HasSubstr(file.string()));
  EXPECT_THAT(message, HasSubstr("cannot open file: No such file or directory"));
  EXPECT_THAT(format_error_of([&] { read_io_dat(dir.path(), 7, 1); }),
              HasSubstr("not a regular file"));
}

TEST(IoDat, InvalidArguments) {
  const TempDir dir;
  EXPECT_THROW(read_io_dat(reference_io_dat(), -1, 1), ArgumentError);
  EXPECT_THROW(read_io_dat(reference_io_dat(), 0, 0), ArgumentError);
  EXPECT_THROW(format_io_dat_rows(at::zeros({3}), at::zeros({3, 1})), ArgumentError);
  EXPECT_THROW(format_io_dat_rows(at::zeros({3, 2}), at::zeros({2, 1})), ArgumentError);
}

TEST(IoDat, TruncatedLastLineIsDetectedAndRepaired) {
  const TempDir dir;
  const auto file = dir / "IO.dat";
  write_io_dat_header(file, 2, 1);
  append_io_dat_rows(file, at::ones({2, 2}, at::kDouble), at::zeros({2, 1}, at::kDouble));
  // A crash in the middle of a number: the column count may even be right.
  std::ofstream(file, std::ios::app | std::ios::binary) << "1.0 2.0 3.00000";

  const std::string message = format_error_of([&] { read_io_dat(file, 2, 1); });
  EXPECT_THAT(message, HasSubstr("line 4"));
  EXPECT_THAT(message, HasSubstr("no line end"));
  EXPECT_THROW(append_io_dat_rows(file, at::ones({1, 2}), at::ones({1, 1})), FormatError);

  EXPECT_EQ(truncate_partial_last_line(file), 15u);
  EXPECT_EQ(truncate_partial_last_line(file), 0u);
  append_io_dat_rows(file, at::ones({1, 2}), at::ones({1, 1}));
  EXPECT_EQ(read_io_dat(file, 2, 1).inputs.size(0), 3);
}

TEST(IoDat, TruncatedHeaderIsDetected) {
  const TempDir dir;
  const auto file = dir.write("IO.dat", "# Input 0, Inp");
  EXPECT_THAT(format_error_of([&] { read_io_dat(file, 1, 1); }), HasSubstr("line 1"));
  EXPECT_EQ(truncate_partial_last_line(file), 14u);
  EXPECT_EQ(std::filesystem::file_size(file), 0u);
}

TEST(IoDat, WriterProtectsExistingData) {
  const TempDir dir;
  const auto file = dir / "IO.dat";
  write_io_dat_header(file, 2, 1);
  EXPECT_THROW(write_io_dat_header(file, 2, 1), Error);
  EXPECT_THAT(format_error_of([&] {
                append_io_dat_rows(file, at::ones({1, 3}), at::ones({1, 1}));
              }),
              HasSubstr("line 1: cannot append rows: the header names 2 inputs + 1 output"));
  EXPECT_THROW(append_io_dat_rows(dir / "none.dat", at::ones({1, 2}), at::ones({1, 1})),
               FormatError);
}

}  // namespace
}  // namespace brains::io
