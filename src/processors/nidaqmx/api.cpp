#include "brains/processors/nidaqmx/api.h"

#include <dlfcn.h>
#include <fmt/format.h>

#include <algorithm>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <mutex>
#include <set>

#include "brains/core/log.h"

namespace brains::processors::nidaqmx {

namespace {

namespace fs = std::filesystem;

// Where NI's Linux packages put the library (field-anchors §4.6). The bare name lets the
// dynamic loader search LD_LIBRARY_PATH and ld.so.conf.
const std::vector<std::string>& standard_paths() {
  static const std::vector<std::string> paths{
      "libnidaqmx.so",
      "/usr/lib/x86_64-linux-gnu/libnidaqmx.so",
      "/usr/lib64/libnidaqmx.so",
      "/usr/lib/libnidaqmx.so",
      "/usr/local/natinst/nidaqmx/lib/libnidaqmx.so",
  };
  return paths;
}

// Versioned files only (libnidaqmx.so.25.5.0) when the unversioned link is missing.
std::vector<std::string> versioned_libraries(const fs::path& dir) {
  std::vector<std::string> found;
  std::error_code error;
  for (const auto& entry : fs::directory_iterator(dir, error)) {
    const std::string name = entry.path().filename().string();
    if (name.rfind("libnidaqmx.so.", 0) == 0) found.push_back(entry.path().string());
  }
  std::sort(found.rbegin(), found.rend());  // newest version first
  return found;
}

std::string one_line(std::string text) {
  std::string out;
  out.reserve(text.size());
  for (char c : text) {
    if (c == '\r') continue;
    if (c == '\n') {
      if (!out.empty() && out.back() != ' ') out += "; ";
    } else {
      out += c;
    }
  }
  while (!out.empty() && (out.back() == ' ' || out.back() == ';')) out.pop_back();
  return out;
}

template <typename F>
void resolve(void* handle, const std::string& library, const char* symbol, F& target,
             bool required = true) {
  dlerror();
  void* address = dlsym(handle, symbol);
  if (!address && required)
    throw HardwareError(fmt::format("cannot use NI-DAQmx library {}: it has no function {}",
                                    library, symbol));
  target = reinterpret_cast<F>(address);
}

std::shared_ptr<const Api> open_library(const std::string& path, std::string& why) {
  dlerror();
  void* handle = dlopen(path.c_str(), RTLD_NOW | RTLD_LOCAL);
  if (!handle) {
    const char* reason = dlerror();
    why = reason ? reason : "unknown dlopen failure";
    return nullptr;
  }
  auto api = std::make_shared<Api>();
  api->library = path;
  resolve(handle, path, "DAQmxCreateTask", api->CreateTask);
  resolve(handle, path, "DAQmxCreateAOVoltageChan", api->CreateAOVoltageChan);
  resolve(handle, path, "DAQmxCreateAIVoltageChan", api->CreateAIVoltageChan);
  resolve(handle, path, "DAQmxCfgSampClkTiming", api->CfgSampClkTiming);
  resolve(handle, path, "DAQmxCfgDigEdgeStartTrig", api->CfgDigEdgeStartTrig);
  resolve(handle, path, "DAQmxWriteAnalogF64", api->WriteAnalogF64);
  resolve(handle, path, "DAQmxReadAnalogF64", api->ReadAnalogF64);
  resolve(handle, path, "DAQmxStartTask", api->StartTask);
  resolve(handle, path, "DAQmxStopTask", api->StopTask);
  resolve(handle, path, "DAQmxClearTask", api->ClearTask);
  resolve(handle, path, "DAQmxWaitUntilTaskDone", api->WaitUntilTaskDone);
  resolve(handle, path, "DAQmxResetDevice", api->ResetDevice);
  resolve(handle, path, "DAQmxGetErrorString", api->GetErrorString);
  resolve(handle, path, "DAQmxGetExtendedErrorInfo", api->GetExtendedErrorInfo);
  resolve(handle, path, "DAQmxGetWriteTotalSampPerChanGenerated",
          api->GetWriteTotalSampPerChanGenerated, /*required=*/false);
  // Never dlclose: NI's runtime starts threads of its own, and the API table is shared.
  return api;
}

}  // namespace

std::vector<std::string> library_candidates(const std::string& configured) {
  if (const char* env = std::getenv("BRAINS_NIDAQMX_LIBRARY"); env && *env) return {env};
  if (!configured.empty()) return {configured};
  std::vector<std::string> paths = standard_paths();
  for (const char* dir : {"/usr/lib/x86_64-linux-gnu", "/usr/local/natinst/nidaqmx/lib"})
    for (auto& versioned : versioned_libraries(dir)) paths.push_back(std::move(versioned));
  return paths;
}

std::shared_ptr<const Api> load_api(const std::string& configured) {
  static std::mutex mutex;
  static std::map<std::string, std::shared_ptr<const Api>> loaded;
  std::lock_guard<std::mutex> lock(mutex);

  std::vector<std::string> failures;
  for (const auto& path : library_candidates(configured)) {
    if (auto it = loaded.find(path); it != loaded.end()) return it->second;
    std::string why;
    if (auto api = open_library(path, why)) {
      loaded.emplace(path, api);
      return api;
    }
    failures.push_back(path + " (" + one_line(why) + ")");
  }
  std::string tried;
  for (const auto& failure : failures) tried += (tried.empty() ? "" : ", ") + failure;
  throw HardwareError(
      "cannot load the NI-DAQmx library: tried " + tried +
      "; install NI-DAQmx for Linux or set BRAINS_NIDAQMX_LIBRARY (or driver.library) to its path");
}

std::string Api::extended_error_info() const {
  std::string text(2048, '\0');
  // A size query first: NI returns the size needed when given a zero-sized buffer.
  const int32 needed = GetExtendedErrorInfo(nullptr, 0);
  if (needed > static_cast<int32>(text.size())) text.resize(static_cast<std::size_t>(needed));
  if (GetExtendedErrorInfo(text.data(), static_cast<uInt32>(text.size())) < 0) return "";
  text.resize(text.find('\0') == std::string::npos ? text.size() : text.find('\0'));
  return one_line(text);
}

void Api::check(int32 status, std::string_view action) const {
  if (status == 0) return;
  if (status > 0) {
    static std::mutex mutex;
    static std::set<int32> warned;
    std::lock_guard<std::mutex> lock(mutex);
    if (warned.insert(status).second) {
      std::string text(1024, '\0');
      GetErrorString(status, text.data(), static_cast<uInt32>(text.size()));
      text.resize(text.find('\0') == std::string::npos ? text.size() : text.find('\0'));
      log::warn("NI-DAQmx warning {} while trying to {}: {}", status, action, one_line(text));
    }
    return;
  }
  std::string detail = extended_error_info();
  if (detail.empty()) {
    std::string text(1024, '\0');
    if (GetErrorString(status, text.data(), static_cast<uInt32>(text.size())) >= 0) {
      text.resize(text.find('\0') == std::string::npos ? text.size() : text.find('\0'));
      detail = one_line(text);
    }
  }
  throw DaqmxError(status, fmt::format("cannot {}: NI-DAQmx error {}{}{}", action, status,
                                       detail.empty() ? "" : ": ", detail));
}

}  // namespace brains::processors::nidaqmx
