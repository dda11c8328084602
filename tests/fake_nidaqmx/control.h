// Test-side access to the test build of libnidaqmx.so (fake_nidaqmx.cpp): points
// BRAINS_NIDAQMX_LIBRARY at it, sets its environment (wiring, faults) and reads back what it
// saw, through the same library instance the driver loads.
//
// Example:
//   FakeNidaqmx fake;                      // library path set, state cleared
//   fake.wire("dnpu ao=cDAQ1Mod3/ao0 ai=cDAQ1Mod4/ai0 gain=10 inverting=1 model=builtin");
//   fake.inject("read_timeout");
//   ... run a driver ...
//   EXPECT_EQ(fake.open_tasks(), 0);
#pragma once

#include <dlfcn.h>
#include <gtest/gtest.h>

#include <cstdlib>
#include <fstream>
#include <stdexcept>
#include <string>
#include <vector>

#include "support/temp_dir.h"

namespace brains::testing {

class FakeNidaqmx {
 public:
  struct Write {
    std::vector<std::string> channels;
    long long samples = 0;
    bool timed = false;
    std::vector<double> data;      // grouped by channel
    std::vector<double> previous;  // each channel's level when the write came
    double at(std::size_t channel, long long sample) const {
      return data[channel * static_cast<std::size_t>(samples) + static_cast<std::size_t>(sample)];
    }
  };
  struct ChannelInfo {
    std::string name;
    double min = 0, max = 0;
    bool output = false;
  };

  FakeNidaqmx() {
    ::setenv("BRAINS_NIDAQMX_LIBRARY", BRAINS_FAKE_NIDAQMX, 1);
    for (const char* name : {"BRAINS_FAKE_NIDAQMX_FAULT", "BRAINS_FAKE_NIDAQMX_FAULT_AT",
                             "BRAINS_FAKE_NIDAQMX_FAULT_COUNT", "BRAINS_FAKE_NIDAQMX_WIRING",
                             "BRAINS_FAKE_NIDAQMX_START_DELAY_S", "BRAINS_FAKE_NIDAQMX_LATE_SPIKE_S",
                             "BRAINS_FAKE_NIDAQMX_REALTIME", "BRAINS_FAKE_NIDAQMX_RECORD"})
      ::unsetenv(name);
    handle_ = ::dlopen(BRAINS_FAKE_NIDAQMX, RTLD_NOW | RTLD_LOCAL);
    if (!handle_) throw std::runtime_error(std::string("cannot load the fake library: ") + ::dlerror());
    reset();
  }
  ~FakeNidaqmx() {
    for (const char* name : {"BRAINS_FAKE_NIDAQMX_FAULT", "BRAINS_FAKE_NIDAQMX_FAULT_AT",
                             "BRAINS_FAKE_NIDAQMX_FAULT_COUNT", "BRAINS_FAKE_NIDAQMX_WIRING",
                             "BRAINS_FAKE_NIDAQMX_START_DELAY_S", "BRAINS_FAKE_NIDAQMX_LATE_SPIKE_S"})
      ::unsetenv(name);
  }
  FakeNidaqmx(const FakeNidaqmx&) = delete;
  FakeNidaqmx& operator=(const FakeNidaqmx&) = delete;

  // Connections, one per line (see fake_nidaqmx.cpp); clears all state.
  void wire(const std::string& lines) {
    const auto file = dir_.write("wiring.txt", lines + "\n");
    ::setenv("BRAINS_FAKE_NIDAQMX_WIRING", file.c_str(), 1);
    reset();
  }
  // A fault from its `at`-th occurrence, `count` times (-1: every later one); clears state.
  void inject(const std::string& kind, long long at = 1, long long count = -1) {
    ::setenv("BRAINS_FAKE_NIDAQMX_FAULT", kind.c_str(), 1);
    ::setenv("BRAINS_FAKE_NIDAQMX_FAULT_AT", std::to_string(at).c_str(), 1);
    ::setenv("BRAINS_FAKE_NIDAQMX_FAULT_COUNT", std::to_string(count).c_str(), 1);
    reset();
  }
  void set(const std::string& name, const std::string& value) {
    ::setenv(name.c_str(), value.c_str(), 1);
    reset();
  }
  void reset() {
    if (call<int (*)()>("fake_nidaqmx_reset")() != 0)
      ADD_FAILURE() << "the fake library rejected its wiring";
  }
  const TempDir& dir() const { return dir_; }

  int open_tasks() const { return call<int (*)()>("fake_nidaqmx_open_task_count")(); }
  double level(const std::string& channel) const {
    return call<double (*)(const char*)>("fake_nidaqmx_output_level")(channel.c_str());
  }
  std::vector<Write> writes() const {
    std::vector<Write> out;
    const int count = call<int (*)()>("fake_nidaqmx_write_count")();
    auto info = call<int (*)(int, char*, unsigned, long long*, int*)>("fake_nidaqmx_write_info");
    auto data = call<long long (*)(int, double*, unsigned long long)>("fake_nidaqmx_write_data");
    for (int i = 0; i < count; ++i) {
      Write write;
      std::string names(4096, '\0');
      int timed = 0;
      info(i, names.data(), static_cast<unsigned>(names.size()), &write.samples, &timed);
      write.timed = timed != 0;
      names.resize(names.find('\0'));
      std::size_t start = 0;
      while (start < names.size()) {
        const auto comma = names.find(',', start);
        write.channels.push_back(names.substr(start, comma - start));
        if (comma == std::string::npos) break;
        start = comma + 1;
      }
      write.data.resize(write.channels.size() * static_cast<std::size_t>(write.samples));
      data(i, write.data.data(), write.data.size());
      write.previous.resize(write.channels.size());
      call<long long (*)(int, double*, unsigned long long)>("fake_nidaqmx_write_previous")(
          i, write.previous.data(), write.previous.size());
      out.push_back(std::move(write));
    }
    return out;
  }
  std::vector<ChannelInfo> channels() const {
    std::vector<ChannelInfo> out;
    const int count = call<int (*)()>("fake_nidaqmx_channel_count")();
    auto info = call<int (*)(int, char*, unsigned, double*, double*, int*)>("fake_nidaqmx_channel_info");
    for (int i = 0; i < count; ++i) {
      ChannelInfo channel;
      std::string name(256, '\0');
      int output = 0;
      info(i, name.data(), static_cast<unsigned>(name.size()), &channel.min, &channel.max, &output);
      channel.name = name.substr(0, name.find('\0'));
      channel.output = output != 0;
      out.push_back(channel);
    }
    return out;
  }
  std::vector<double> read_timeouts() const {
    std::vector<double> out;
    const int count = call<int (*)()>("fake_nidaqmx_read_count")();
    for (int i = 0; i < count; ++i) out.push_back(call<double (*)(int)>("fake_nidaqmx_read_timeout")(i));
    return out;
  }
  int resets(const std::string& device) const {
    return call<int (*)(const char*)>("fake_nidaqmx_reset_count")(device.c_str());
  }
  double now() const { return call<double (*)()>("fake_nidaqmx_now")(); }
  // The currents (nA) of the `device`-th wired dnpu for electrode voltages v.
  std::vector<double> device_current(int device, const std::vector<double>& v) const {
    std::vector<double> out(16);
    const int n = call<int (*)(int, const double*, int, double*)>("fake_nidaqmx_device_current")(
        device, v.data(), static_cast<int>(v.size()), out.data());
    if (n < 0) throw std::runtime_error("no such device in the wiring");
    out.resize(static_cast<std::size_t>(n));
    return out;
  }

 private:
  template <typename F>
  F call(const char* symbol) const {
    void* address = ::dlsym(handle_, symbol);
    if (!address) throw std::runtime_error(std::string("fake library lacks ") + symbol);
    return reinterpret_cast<F>(address);
  }

  void* handle_ = nullptr;
  TempDir dir_;
};

}  // namespace brains::testing
