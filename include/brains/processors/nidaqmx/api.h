// The subset of the NI-DAQmx C API the drivers use, loaded at run time with dlopen, so
// brains-cpp builds and runs without NI's headers or runtime (spec field-anchors §4).
// The types and constants are declared here from NIDAQmx.h; their sizes are checked.
//
// Library search order: the BRAINS_NIDAQMX_LIBRARY environment variable, then the
// configured path (driver.library), then NI's standard Linux locations. An explicit path
// (environment or config) is the only one tried when given. A library stays loaded for the
// life of the process (as NI's Python binding keeps it), one per path.
//
// Raises: HardwareError (no library could be loaded: every path tried and why; a required
//         function is missing: its name), DaqmxError (a call returned a negative status).
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <string_view>
#include <type_traits>
#include <vector>

#include "brains/core/error.h"

namespace brains::processors::nidaqmx {

// NIDAQmx.h (2023) on 64-bit Linux with GCC: int32 is `signed int` (older headers used
// `long`, 64-bit on LP64: that layout is not supported), bool32 is uInt32, TaskHandle void*.
using int32 = std::int32_t;
using uInt32 = std::uint32_t;
using uInt64 = unsigned long long;
using float64 = double;
using bool32 = uInt32;
using TaskHandle = void*;
static_assert(sizeof(int32) == 4 && std::is_signed_v<int32>, "NI-DAQmx int32 must be 32-bit");
static_assert(sizeof(uInt32) == 4 && std::is_unsigned_v<uInt32>, "NI-DAQmx uInt32 must be 32-bit");
static_assert(sizeof(uInt64) == 8, "NI-DAQmx uInt64 must be 64-bit");
static_assert(sizeof(float64) == 8, "NI-DAQmx float64 must be an IEEE double");
static_assert(sizeof(TaskHandle) == sizeof(void*), "NI-DAQmx TaskHandle is a pointer");

// Constants of NIDAQmx.h (field-anchors §4.3).
inline constexpr int32 kVolts = 10348;
inline constexpr int32 kRising = 10280;
inline constexpr int32 kFiniteSamples = 10178;
inline constexpr bool32 kGroupByChannel = 0;
inline constexpr int32 kTerminalDefault = -1;
inline constexpr int32 kTerminalRse = 10083;
inline constexpr int32 kTerminalNrse = 10078;
inline constexpr int32 kTerminalDifferential = 10106;
inline constexpr int32 kTerminalPseudoDifferential = 12529;
inline constexpr int32 kErrorOperationTimedOut = -200474;

// A call failed: the status code, the action and NI's extended error text, on one line.
class DaqmxError : public HardwareError {
 public:
  DaqmxError(int32 code, const std::string& message) : HardwareError(message), code_(code) {}
  int32 code() const noexcept { return code_; }

 private:
  int32 code_;
};

// Function pointers into the loaded library, named as in NIDAQmx.h without the prefix.
struct Api {
  std::string library;  // the path it was loaded from

  int32 (*CreateTask)(const char taskName[], TaskHandle* taskHandle) = nullptr;
  int32 (*CreateAOVoltageChan)(TaskHandle taskHandle, const char physicalChannel[],
                               const char nameToAssignToChannel[], float64 minVal,
                               float64 maxVal, int32 units,
                               const char customScaleName[]) = nullptr;
  int32 (*CreateAIVoltageChan)(TaskHandle taskHandle, const char physicalChannel[],
                               const char nameToAssignToChannel[], int32 terminalConfig,
                               float64 minVal, float64 maxVal, int32 units,
                               const char customScaleName[]) = nullptr;
  int32 (*CfgSampClkTiming)(TaskHandle taskHandle, const char source[], float64 rate,
                            int32 activeEdge, int32 sampleMode, uInt64 sampsPerChan) = nullptr;
  int32 (*CfgDigEdgeStartTrig)(TaskHandle taskHandle, const char triggerSource[],
                               int32 triggerEdge) = nullptr;
  int32 (*WriteAnalogF64)(TaskHandle taskHandle, int32 numSampsPerChan, bool32 autoStart,
                          float64 timeout, bool32 dataLayout, const float64 writeArray[],
                          int32* sampsPerChanWritten, bool32* reserved) = nullptr;
  int32 (*ReadAnalogF64)(TaskHandle taskHandle, int32 numSampsPerChan, float64 timeout,
                         bool32 fillMode, float64 readArray[], uInt32 arraySizeInSamps,
                         int32* sampsPerChanRead, bool32* reserved) = nullptr;
  int32 (*StartTask)(TaskHandle taskHandle) = nullptr;
  int32 (*StopTask)(TaskHandle taskHandle) = nullptr;
  int32 (*ClearTask)(TaskHandle taskHandle) = nullptr;
  int32 (*WaitUntilTaskDone)(TaskHandle taskHandle, float64 timeToWait) = nullptr;
  int32 (*ResetDevice)(const char deviceName[]) = nullptr;
  int32 (*GetErrorString)(int32 errorCode, char errorString[], uInt32 bufferSize) = nullptr;
  int32 (*GetExtendedErrorInfo)(char errorString[], uInt32 bufferSize) = nullptr;
  // Optional (null when the library lacks it): samples per channel an output task has
  // generated, used to know where an aborted waveform stopped.
  int32 (*GetWriteTotalSampPerChanGenerated)(TaskHandle taskHandle, uInt64* data) = nullptr;

  // Status 0 returns; a warning (> 0) is logged once per code; an error (< 0) raises
  // DaqmxError "cannot <action>: NI-DAQmx error <code>: <extended info>" on one line.
  void check(int32 status, std::string_view action) const;
  // NI's description of the last failed call on this thread, newlines folded to "; ".
  std::string extended_error_info() const;
};

// The library at `configured` (may be empty), or found as described above; loaded once per
// path and shared.
std::shared_ptr<const Api> load_api(const std::string& configured = "");

// The paths load_api tries, in order, for a configured path (may be empty).
std::vector<std::string> library_candidates(const std::string& configured = "");

}  // namespace brains::processors::nidaqmx
