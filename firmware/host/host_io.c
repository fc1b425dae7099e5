#define _GNU_SOURCE
#include "host_io.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../src/protocol.h"

uint64_t monotonic_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000u + (uint64_t)ts.tv_nsec / 1000u;
}

int adc_commands_read(const char *who, adc_command_fn set_adc, void *ctx)
{
    static char line[256];
    static size_t used;
    ssize_t n = read(0, line + used, sizeof line - 1 - used);
    if (n <= 0)
        return n < 0 && errno == EINTR;
    used += (size_t)n;
    line[used] = 0;
    char *start = line, *end;
    while ((end = strchr(start, '\n'))) {
        *end = 0;
        unsigned channel, raw;
        if (sscanf(start, "adc %u %u", &channel, &raw) == 2 && channel < 8 &&
            raw <= PROTO_ADC_MAX)
            set_adc(channel, raw, ctx);
        else
            fprintf(stderr, "%s: ignored command: %s\n", who, start);
        start = end + 1;
    }
    used = strlen(start);
    memmove(line, start, used + 1);
    if (used == sizeof line - 1)
        used = 0; /* a line too long to be a command */
    return 1;
}
