/*
 * What the host body and the simavr harness share besides the pty: the monotonic clock and
 * their stdin, "adc <channel 0..7> <raw 0..1023>" lines that set what the pads (0..3) and
 * pots (4..7) read. Both bodies take the same commands; only what setting an ADC channel
 * does differs (a value the host controller reads, a voltage on the simulated pin), so
 * that is the caller's callback.
 */
#ifndef NEMURI_HOST_IO_H
#define NEMURI_HOST_IO_H

#include <stdint.h>

/* CLOCK_MONOTONIC in microseconds. */
uint64_t monotonic_us(void);

typedef void (*adc_command_fn)(unsigned channel, unsigned raw, void *ctx);

/* Read what stdin holds now (read(2), not stdio: poll must see every line that arrives)
 * and run each whole line; a line that is no valid command is reported on stderr, named by
 * `who`. Returns 0 at end of input, 1 otherwise. */
int adc_commands_read(const char *who, adc_command_fn set_adc, void *ctx);

#endif
