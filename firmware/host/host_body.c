/*
 * The host body: controller.c and protocol.c, built with gcc, on a pty instead of a UART.
 * It behaves as the board does on the wire (targets, watchdog, 50 Hz state, counters) with
 * the host's monotonic clock, so the Python side's tests run against the firmware's own
 * protocol code in milliseconds, without the simulator.
 *
 *   host_body [--link PATH] [--feedback-mask N]
 *
 * stdout: "ready <pty>" once, then "pulse <servo> <width_us> <t_us> <since_rx_us>" whenever
 * an output changes (t_us: since start; since_rx_us: since the last good TARGETS frame).
 * stdin:  "adc <channel 0..7> <raw 0..1023>" sets what the pads (0..3) and pots (4..7) read.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "../src/controller.h"
#include "host_io.h"
#include "pty_port.h"

static volatile sig_atomic_t stop;

static void on_signal(int signum)
{
    (void)signum;
    stop = 1;
}

/* An "adc" command from stdin (host_io.h): what the controller will read there. */
static void set_adc(unsigned channel, unsigned raw, void *ctx)
{
    ((uint16_t *)ctx)[channel] = (uint16_t)raw;
}

int main(int argc, char **argv)
{
    const char *link = NULL;
    unsigned feedback_mask = 0;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--link") && i + 1 < argc)
            link = argv[++i];
        else if (!strcmp(argv[i], "--feedback-mask") && i + 1 < argc)
            feedback_mask = (unsigned)strtoul(argv[++i], NULL, 0) & 0x0Fu;
        else {
            fprintf(stderr, "usage: %s [--link PATH] [--feedback-mask N]\n", argv[0]);
            return 2;
        }
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    signal(SIGPIPE, SIG_IGN);

    pty_port port;
    if (pty_port_open(&port, link)) {
        fprintf(stderr, "host_body: cannot open a pty: %s\n", strerror(errno));
        return 1;
    }
    printf("ready %s\n", port.path);

    const uint64_t start = monotonic_us();
    controller body;
    controller_init(&body, 0);
    uint16_t adc[8] = {0}, shown[PROTO_SERVOS] = {0};
    uint64_t last_rx_us = 0, next_state_ms = STATE_PERIOD_MS;
    int stdin_open = 1;
    while (!stop) {
        uint64_t t = monotonic_us() - start;
        uint32_t ms = (uint32_t)(t / 1000u);
        uint32_t wait = next_state_ms > ms ? (uint32_t)(next_state_ms - ms) : 0;
        if (!body.resting) {
            uint32_t left = (uint32_t)(body.last_command_ms + WATCHDOG_MS - ms);
            wait = left < wait ? left : wait;
        }
        struct pollfd fds[2] = {{port.master, POLLIN, 0}, {0, POLLIN, 0}};
        if (poll(fds, stdin_open ? 2 : 1, (int)wait + 1) < 0 && errno != EINTR)
            break;
        t = monotonic_us() - start;
        ms = (uint32_t)(t / 1000u);
        if (fds[0].revents & POLLIN) {
            uint8_t buf[256];
            ssize_t n = read(port.master, buf, sizeof buf);
            for (ssize_t i = 0; i < n; i++) {
                uint32_t ok = body.parser.frames_ok, rejected = body.rx_rejected;
                controller_rx(&body, buf[i], ms);
                if (body.parser.frames_ok != ok && body.rx_rejected == rejected)
                    last_rx_us = t; /* a good TARGETS frame */
            }
        }
        if (stdin_open && (fds[1].revents & (POLLIN | POLLHUP)))
            stdin_open = adc_commands_read("host_body", set_adc, adc);
        controller_tick(&body, ms);
        for (unsigned i = 0; i < PROTO_SERVOS; i++) {
            if (body.pulse_us[i] != shown[i]) {
                shown[i] = body.pulse_us[i];
                printf("pulse %u %u %llu %llu\n", i, shown[i], (unsigned long long)t,
                       (unsigned long long)(t - last_rx_us));
            }
        }
        if (ms >= next_state_ms) {
            next_state_ms += STATE_PERIOD_MS;
            if (next_state_ms <= ms) /* we were stopped: don't burst to catch up */
                next_state_ms = ms + STATE_PERIOD_MS;
            /* the board's wiring: pots on ADC4..ADC7, none for the gripper */
            const uint16_t feedback[PROTO_SERVOS] = {adc[4], adc[5], adc[6], adc[7], 0};
            uint8_t frame[PROTO_MAX_FRAME];
            size_t n = controller_state_frame(&body, ms, adc, feedback, (uint8_t)feedback_mask,
                                              frame);
            pty_port_write(&port, frame, n);
        }
    }
    pty_port_close(&port);
    return 0;
}
