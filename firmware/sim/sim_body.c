/*
 * Firmware in the loop: the real nemuri_body.elf runs in simavr (an ATmega328P at 16 MHz),
 * its UART bridged to a pty that pyserial opens like the board's USB port, its servo pins
 * watched edge by edge, its ADC fed from stdin.
 *
 *   sim_body FIRMWARE.elf [--link PATH]
 *
 * stdout: "ready <pty>" once, then "pulse <servo> <width_us> <sim_us> <since_rx_us>" each
 *         time a servo pin's measured pulse width changes (sim_us: simulated time;
 *         since_rx_us: simulated time since the last good TARGETS frame went in, read from
 *         the bytes with the same protocol.c, so the watchdog can be timed in sim time).
 * stdin:  "adc <channel 0..7> <raw 0..1023>" puts raw * 5 V / 1023 on that ADC pin.
 *
 * The simulation is paced to the wall clock (it runs at most 1 ms of simulated time ahead
 * of it): the serial link and its peer see a board that lives in real time. If the machine
 * is too slow, simulated time lags instead; the widths and sim_us stay exact.
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

#include <avr_adc.h>
#include <avr_ioport.h>
#include <avr_uart.h>
#include <sim_avr.h>
#include <sim_elf.h>
#include <sim_io.h>
#include <sim_irq.h>

#include "../host/host_io.h"
#include "../host/pty_port.h"
#include "../src/protocol.h"

#define F_CPU 16000000u
#define SERVO_FIRST_BIT 2 /* PD2..PD6, as firmware/src/board.h */
#define AVCC_MV 5000u

static volatile sig_atomic_t stop;
static avr_t *avr;
static uint8_t uart_xon = 1;
static uint8_t tx_buf[4096];
static size_t tx_len;
static avr_cycle_count_t rise[PROTO_SERVOS];
static uint32_t shown_tenths[PROTO_SERVOS];
static avr_cycle_count_t last_rx_cycle;
static proto_parser observer; /* reads the host's bytes only to time the watchdog */

static void on_signal(int signum)
{
    (void)signum;
    stop = 1;
}

static uint64_t sim_us(avr_cycle_count_t cycle)
{
    return (uint64_t)(cycle / (F_CPU / 1000000u));
}

/* simavr's own sleep callback usleeps inside avr_run; we pace outside it instead. */
static void no_sleep(avr_t *a, avr_cycle_count_t how_long)
{
    (void)a;
    (void)how_long;
}

static void on_uart_out(avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    (void)param;
    if (tx_len < sizeof tx_buf)
        tx_buf[tx_len++] = (uint8_t)value;
}

static void on_uart_xon(avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq, (void)value, (void)param;
    uart_xon = 1;
}

static void on_uart_xoff(avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq, (void)value, (void)param;
    uart_xon = 0;
}

static void on_pin(avr_irq_t *irq, uint32_t value, void *param)
{
    (void)irq;
    unsigned servo = (unsigned)(uintptr_t)param;
    if (value) {
        rise[servo] = avr->cycle;
        return;
    }
    if (!rise[servo])
        return;
    /* width in tenths of a microsecond: 16 cycles per us */
    uint32_t tenths = (uint32_t)((avr->cycle - rise[servo]) * 10u / (F_CPU / 1000000u));
    uint32_t diff = tenths > shown_tenths[servo] ? tenths - shown_tenths[servo]
                                                  : shown_tenths[servo] - tenths;
    if (diff >= 5) { /* half a microsecond: below that is the ISR's own jitter */
        shown_tenths[servo] = tenths;
        printf("pulse %u %u.%u %llu %llu\n", servo, tenths / 10u, tenths % 10u,
               (unsigned long long)sim_us(avr->cycle),
               (unsigned long long)sim_us(avr->cycle - last_rx_cycle));
    }
}

static void on_observed_frame(const proto_frame *frame, void *ctx)
{
    (void)ctx;
    proto_targets targets;
    if (proto_targets_decode(frame, &targets) == PROTO_OK)
        last_rx_cycle = avr->cycle;
}

/* An "adc" command from stdin (host_io.h): raw * 5 V / 1023 on that ADC pin, in mV. */
static void set_adc(unsigned channel, unsigned raw, void *ctx)
{
    (void)ctx;
    avr_irq_t *adc = avr_io_getirq(avr, AVR_IOCTL_ADC_GETIRQ, ADC_IRQ_ADC0 + channel);
    avr_raise_irq(adc, (raw * AVCC_MV + PROTO_ADC_MAX / 2) / PROTO_ADC_MAX);
}

static avr_t *load(const char *path)
{
    elf_firmware_t firmware;
    memset(&firmware, 0, sizeof firmware);
    if (elf_read_firmware(path, &firmware)) {
        fprintf(stderr, "sim_body: cannot read %s\n", path);
        return NULL;
    }
    strcpy(firmware.mmcu, "atmega328p");
    firmware.frequency = F_CPU;
    avr_t *a = avr_make_mcu_by_name(firmware.mmcu);
    if (!a || avr_init(a)) {
        fprintf(stderr, "sim_body: simavr has no atmega328p\n");
        return NULL;
    }
    avr_load_firmware(a, &firmware);
    a->frequency = F_CPU;
    a->vcc = a->avcc = a->aref = AVCC_MV;
    a->sleep = no_sleep;
    return a;
}

static void wire(void)
{
    uint32_t flags = 0;
    avr_ioctl(avr, AVR_IOCTL_UART_GET_FLAGS('0'), &flags);
    flags &= ~(uint32_t)(AVR_UART_FLAG_STDIO | AVR_UART_FLAG_POLL_SLEEP);
    avr_ioctl(avr, AVR_IOCTL_UART_SET_FLAGS('0'), &flags);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUTPUT),
                            on_uart_out, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XON),
                            on_uart_xon, NULL);
    avr_irq_register_notify(avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_OUT_XOFF),
                            on_uart_xoff, NULL);
    for (unsigned i = 0; i < PROTO_SERVOS; i++)
        avr_irq_register_notify(
            avr_io_getirq(avr, AVR_IOCTL_IOPORT_GETIRQ('D'), SERVO_FIRST_BIT + i), on_pin,
            (void *)(uintptr_t)i);
}

int main(int argc, char **argv)
{
    const char *elf = NULL, *link = NULL;
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--link") && i + 1 < argc)
            link = argv[++i];
        else if (!elf && argv[i][0] != '-')
            elf = argv[i];
        else
            elf = NULL, i = argc;
    }
    if (!elf) {
        fprintf(stderr, "usage: %s FIRMWARE.elf [--link PATH]\n", argv[0]);
        return 2;
    }
    setvbuf(stdout, NULL, _IOLBF, 0);
    signal(SIGINT, on_signal);
    signal(SIGTERM, on_signal);
    /* simavr reports the load on stdout; stdout is ours (the pulse lines): send it to stderr */
    int saved_stdout = dup(1);
    dup2(2, 1);
    avr = load(elf);
    fflush(stdout);
    dup2(saved_stdout, 1);
    close(saved_stdout);
    if (!avr)
        return 1;
    wire();
    proto_parser_init(&observer);
    pty_port port;
    if (pty_port_open(&port, link)) {
        fprintf(stderr, "sim_body: cannot open a pty: %s\n", strerror(errno));
        return 1;
    }
    printf("ready %s\n", port.path);

    avr_irq_t *uart_in = avr_io_getirq(avr, AVR_IOCTL_UART_GETIRQ('0'), UART_IRQ_INPUT);
    uint8_t rx[256];
    size_t rx_len = 0, rx_done = 0;
    int stdin_open = 1, status = 0;
    const uint64_t start = monotonic_us();
    while (!stop) {
        /* one simulated millisecond (sleep skips ahead to the next timer event) */
        avr_cycle_count_t until = avr->cycle + F_CPU / 1000u;
        while (avr->cycle < until) {
            int state = avr_run(avr);
            if (state == cpu_Done || state == cpu_Crashed) {
                fprintf(stderr, "sim_body: the AVR stopped (state %d)\n", state);
                stop = 1, status = 1;
                break;
            }
        }
        while (rx_done < rx_len && uart_xon) {
            proto_parser_feed(&observer, rx[rx_done], on_observed_frame, NULL);
            avr_raise_irq(uart_in, rx[rx_done++]);
        }
        if (tx_len) {
            pty_port_write(&port, tx_buf, tx_len);
            tx_len = 0;
        }
        uint64_t ahead = sim_us(avr->cycle), now = monotonic_us() - start;
        int wait_ms = ahead > now + 1000u ? (int)((ahead - now) / 1000u) : 0;
        struct pollfd fds[2] = {{port.master, rx_done < rx_len ? 0 : POLLIN, 0},
                                {0, POLLIN, 0}};
        if (poll(fds, stdin_open ? 2 : 1, wait_ms) < 0 && errno != EINTR)
            break;
        if (fds[0].revents & POLLIN) {
            ssize_t n = read(port.master, rx, sizeof rx);
            rx_len = n > 0 ? (size_t)n : 0;
            rx_done = 0;
        }
        if (stdin_open && (fds[1].revents & (POLLIN | POLLHUP)))
            stdin_open = adc_commands_read("sim_body", set_adc, NULL);
    }
    pty_port_close(&port);
    avr_terminate(avr);
    return status;
}
