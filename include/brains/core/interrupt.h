// Cooperative interruption: SIGINT/SIGTERM set a flag that long loops poll, so they can
// finish or drop the current step, leave files consistent, ramp hardware to 0 V and then
// raise InterruptedError (exit code 130 from the CLI). No library call exits the process.
#pragma once

namespace brains {

// Installs the SIGINT/SIGTERM handlers (idempotent).
void install_interrupt_handlers();
bool interrupt_requested() noexcept;
// Raises InterruptedError("<what> interrupted") when an interrupt is pending.
void throw_if_interrupted(const char* what);
// For tests and for a caller that handled the interrupt.
void clear_interrupt() noexcept;

}  // namespace brains
