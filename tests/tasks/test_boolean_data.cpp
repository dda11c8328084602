#include <ATen/ATen.h>
#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include "brains/core/error.h"
#include "brains/tasks/boolean_data.h"

namespace brains::tasks {
namespace {

using ::testing::HasSubstr;

TEST(BooleanData, PointsAreBrainspyTasksSet) {
  const at::Tensor points = boolean_points(10);
  EXPECT_EQ(points.sizes(), (std::vector<std::int64_t>{10, 2}));
  EXPECT_FLOAT_EQ(points[1][0].item<float>(), -0.5f);
  EXPECT_FLOAT_EQ(points[1][1].item<float>(), 1.0f);
  EXPECT_FLOAT_EQ(points[4][0].item<float>(), -0.0625f);
  EXPECT_FLOAT_EQ(points[9][1].item<float>(), -1.0f);
  // The current set is 1.25 * original + 0.375.
  EXPECT_FLOAT_EQ(points[5][0].item<float>(), 1.25f * 0.25f + 0.375f);
  EXPECT_THROW(boolean_points(11), ArgumentError);
  EXPECT_THROW(boolean_points(0), ArgumentError);
}

TEST(BooleanData, DichotomiesInBrainspyOrder) {
  const at::Tensor gates = all_dichotomies(4);
  ASSERT_EQ(gates.size(0), 14);
  // Row k-1 is the binary expansion of k: AND k=1, XOR k=6, OR k=7, NOR k=8, XNOR k=9, NAND k=14.
  EXPECT_EQ(gate_label_string(gates[0]), "0001");
  EXPECT_EQ(gate_label_string(gates[5]), "0110");
  EXPECT_EQ(gate_label_string(gates[6]), "0111");
  EXPECT_EQ(gate_label_string(gates[7]), "1000");
  EXPECT_EQ(gate_label_string(gates[8]), "1001");
  EXPECT_EQ(gate_label_string(gates[13]), "1110");
  EXPECT_EQ(all_dichotomies(7).size(0), 126);
  // Every row distinct and never constant.
  EXPECT_EQ(std::get<0>(at::unique_dim(all_dichotomies(6), 0)).size(0), 62);
  EXPECT_TRUE((all_dichotomies(5).sum(1) > 0).all().item<bool>());
  EXPECT_TRUE((all_dichotomies(5).sum(1) < 5).all().item<bool>());
}

TEST(BooleanData, GatesByNameAndLabels) {
  EXPECT_EQ(gate_label_string(gate_by_name("xor")), "0110");
  EXPECT_EQ(gate_label_string(parse_gate("NAND")), "1110");
  EXPECT_EQ(gate_label_string(parse_gate("0110")), "0110");
  EXPECT_EQ(gate_label_string(parse_gate("01101")), "01101");
}

TEST(BooleanData, BadGatesAreClearErrors) {
  const auto message = [](const std::string& gate) {
    try {
      parse_gate(gate);
    } catch (const ArgumentError& e) {
      return std::string(e.what());
    }
    return std::string("<accepted>");
  };
  EXPECT_THAT(message("XAND"), HasSubstr("unknown gate 'XAND' (valid: AND, OR"));
  EXPECT_THAT(message("0120"), HasSubstr("only 0 and 1"));
  EXPECT_THAT(message("0"), HasSubstr("2 to 10 digits"));
  EXPECT_THAT(message("01101101010"), HasSubstr("2 to 10 digits"));
  EXPECT_THAT(message("0000"), HasSubstr("constant gate"));
}

}  // namespace
}  // namespace brains::tasks
