#include "brains/core/interrupt.h"

#include <csignal>
#include <string>

#include "brains/core/error.h"

namespace brains {

namespace {
// A signal handler can only talk to the program through a flag of this type.
volatile std::sig_atomic_t interrupt_flag = 0;

extern "C" void on_interrupt(int) { interrupt_flag = 1; }
}  // namespace

void install_interrupt_handlers() {
  struct sigaction action {};
  action.sa_handler = on_interrupt;
  sigemptyset(&action.sa_mask);
  sigaction(SIGINT, &action, nullptr);
  sigaction(SIGTERM, &action, nullptr);
}

bool interrupt_requested() noexcept { return interrupt_flag != 0; }

void throw_if_interrupted(const char* what) {
  if (interrupt_flag) throw InterruptedError(std::string(what) + " interrupted");
}

void clear_interrupt() noexcept { interrupt_flag = 0; }

}  // namespace brains
