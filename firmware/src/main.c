/*
 * The ATmega328P firmware: the hardware around controller.c.
 *
 *   Timer0  1 kHz tick: the millisecond clock for the watchdog and the 50 Hz state.
 *   Timer1  the servo pulses, one servo after another in each 20 ms frame (the Arduino
 *           Servo library's scheme): a compare-match interrupt ends one pulse and starts
 *           the next, so five pins share one timer and each width is exact to a tick
 *           (0.5 us) but for the few cycles another interrupt may delay an edge.
 *   USART0  115200 baud, interrupt driven both ways through ring buffers.
 *   ADC     one sweep of the pads (and fitted pots) per state frame, interrupt chained.
 *   WDT     500 ms hardware watchdog: a hung loop resets the board, which boots at rest.
 *
 * The main loop sleeps (idle) whenever no byte is waiting; every interrupt wakes it.
 */
#include <avr/interrupt.h>
#include <avr/io.h>
#include <avr/sleep.h>
#include <avr/wdt.h>
#include <util/atomic.h>

#include "board.h"
#include "controller.h"

#define TIMER1_TICKS_PER_US 2u /* 16 MHz / 8 */
#define SERVO_FRAME_TICKS (20000u * TIMER1_TICKS_PER_US)
#define SERVO_PIN(i) ((uint8_t)(1u << (SERVO_FIRST_BIT + (i))))
#define SERVO_PINS ((uint8_t)(((1u << PROTO_SERVOS) - 1u) << SERVO_FIRST_BIT))
#define RX_SIZE 64u  /* powers of two: the indexes wrap with a mask */
#define TX_SIZE 128u /* room for one state frame while the last one drains */

static volatile uint32_t now_ms;
static volatile uint16_t servo_ticks[PROTO_SERVOS];

static volatile uint8_t rx_buf[RX_SIZE];
static volatile uint8_t rx_head, rx_tail;
static volatile uint8_t tx_buf[TX_SIZE];
static volatile uint8_t tx_head, tx_tail;

static const uint8_t feedback_adc[PROTO_SERVOS] = FEEDBACK_ADC;
static volatile uint16_t adc_value[8];
static uint8_t adc_channels[PROTO_PADS + PROTO_SERVOS];
static uint8_t adc_count;
static volatile uint8_t adc_next;

/* A watchdog reset leaves the WDT running with its shortest timeout: stop it first. */
void wdt_off_at_boot(void) __attribute__((naked, used, section(".init3")));
void wdt_off_at_boot(void)
{
    MCUSR = 0;
    wdt_disable();
}

/* NOBLOCK: the servo interrupt may cut in, so a pulse edge never waits for this one. */
ISR(TIMER0_COMPA_vect, ISR_NOBLOCK)
{
    now_ms++;
}

/* Both edges of a step (one pulse ends, the next starts) are one write to the port, made
 * first thing, so every edge lies the same few cycles after its compare match; and each
 * compare point is set from the last one (OCR1A += step), never from TCNT1, so interrupt
 * latency never adds to a width. The timer runs free and wraps. */
ISR(TIMER1_COMPA_vect)
{
    static uint8_t next = 0; /* the pulse this interrupt starts; PROTO_SERVOS: the gap */
    static uint8_t pins = SERVO_PIN(0);
    static uint16_t frame_used;
    SERVO_PORT = (uint8_t)((SERVO_PORT & (uint8_t)~SERVO_PINS) | pins);
    uint16_t step;
    if (next < PROTO_SERVOS) {
        step = servo_ticks[next];
        frame_used += step;
        next++;
    } else {
        step = (uint16_t)(SERVO_FRAME_TICKS - frame_used);
        frame_used = 0;
        next = 0;
    }
    OCR1A += step;
    pins = next < PROTO_SERVOS ? SERVO_PIN(next) : 0;
}

ISR(USART_RX_vect)
{
    uint8_t byte = UDR0;
    uint8_t next = (uint8_t)((rx_head + 1u) & (RX_SIZE - 1u));
    if (next != rx_tail) { /* full: the byte is lost, and the parser will see the gap */
        rx_buf[rx_head] = byte;
        rx_head = next;
    }
}

ISR(USART_UDRE_vect)
{
    if (tx_head == tx_tail) {
        UCSR0B &= (uint8_t)~(1u << UDRIE0);
        return;
    }
    UDR0 = tx_buf[tx_tail];
    tx_tail = (uint8_t)((tx_tail + 1u) & (TX_SIZE - 1u));
}

ISR(ADC_vect, ISR_NOBLOCK)
{
    adc_value[ADMUX & 0x07u] = ADC;
    if (++adc_next < adc_count) {
        ADMUX = (uint8_t)((1u << REFS0) | adc_channels[adc_next]);
        ADCSRA |= (uint8_t)(1u << ADSC);
    }
}

static void clock_init(void)
{
    TCCR0A = 1u << WGM01; /* CTC */
    OCR0A = 249u;         /* 16 MHz / 64 / 250 = 1 kHz */
    TCCR0B = (1u << CS01) | (1u << CS00);
    TIMSK0 = 1u << OCIE0A;
}

static void servos_init(void)
{
    SERVO_DDR |= SERVO_PINS;
    TCCR1A = 0;
    TCCR1B = 1u << CS11; /* normal mode, /8 */
    OCR1A = 100u;
    TIMSK1 = 1u << OCIE1A;
}

static void uart_init(void)
{
    const uint16_t ubrr = (uint16_t)((F_CPU_HZ / 8u + BAUD / 2u) / BAUD - 1u); /* 16: 2.1 % */
    UBRR0H = (uint8_t)(ubrr >> 8);
    UBRR0L = (uint8_t)ubrr;
    UCSR0A = 1u << U2X0;
    UCSR0B = (1u << RXEN0) | (1u << TXEN0) | (1u << RXCIE0);
    UCSR0C = (1u << UCSZ01) | (1u << UCSZ00); /* 8N1 */
}

static void adc_init(void)
{
    for (uint8_t i = 0; i < PROTO_PADS; i++)
        adc_channels[adc_count++] = (uint8_t)(PAD_FIRST_ADC + i);
    for (uint8_t i = 0; i < PROTO_SERVOS; i++)
        if (((FEEDBACK_MASK >> i) & 1u) && feedback_adc[i] < 8u)
            adc_channels[adc_count++] = feedback_adc[i];
    ADCSRA = (1u << ADEN) | (1u << ADIE) | (1u << ADPS2) | (1u << ADPS1) | (1u << ADPS0);
}

static void adc_sweep(void)
{
    if (ADCSRA & (1u << ADSC))
        return; /* the last sweep is still running */
    adc_next = 0;
    ADMUX = (uint8_t)((1u << REFS0) | adc_channels[0]);
    ADCSRA |= (uint8_t)(1u << ADSC);
}

static void uart_write(const uint8_t *data, size_t n)
{
    uint8_t used = (uint8_t)((tx_head - tx_tail) & (TX_SIZE - 1u));
    if (n > (size_t)(TX_SIZE - 1u - used))
        return; /* no room: drop the whole frame, never half of one */
    for (size_t i = 0; i < n; i++) {
        tx_buf[tx_head] = data[i];
        tx_head = (uint8_t)((tx_head + 1u) & (TX_SIZE - 1u));
    }
    UCSR0B |= (uint8_t)(1u << UDRIE0);
}

static uint32_t millis(void)
{
    uint32_t t;
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE) { t = now_ms; }
    return t;
}

/* One value at a time, each write atomic: interrupts stay off for a few cycles only, so
 * the servo edges are never held up by it. */
static void set_servos(const uint16_t pulse_us[PROTO_SERVOS])
{
    for (uint8_t i = 0; i < PROTO_SERVOS; i++) {
        uint16_t ticks = (uint16_t)(pulse_us[i] * TIMER1_TICKS_PER_US);
        ATOMIC_BLOCK(ATOMIC_RESTORESTATE) { servo_ticks[i] = ticks; }
    }
}

static void send_state(controller *c, uint32_t now)
{
    uint16_t touch[PROTO_PADS], feedback[PROTO_SERVOS] = {0};
    ATOMIC_BLOCK(ATOMIC_RESTORESTATE)
    {
        for (uint8_t i = 0; i < PROTO_PADS; i++)
            touch[i] = adc_value[PAD_FIRST_ADC + i];
        for (uint8_t i = 0; i < PROTO_SERVOS; i++)
            if (feedback_adc[i] < 8u)
                feedback[i] = adc_value[feedback_adc[i]];
    }
    uint8_t frame[PROTO_MAX_FRAME];
    size_t n = controller_state_frame(c, now, touch, feedback, FEEDBACK_MASK, frame);
    uart_write(frame, n);
}

int main(void)
{
    static controller body;
    controller_init(&body, 0);
    set_servos(body.pulse_us);
    clock_init();
    servos_init();
    uart_init();
    adc_init();
    set_sleep_mode(SLEEP_MODE_IDLE);
    wdt_enable(WDTO_500MS);
    sei();
    uint32_t next_state = STATE_PERIOD_MS;
    for (;;) {
        wdt_reset();
        uint32_t now = millis();
        while (rx_tail != rx_head) {
            controller_rx(&body, rx_buf[rx_tail], now);
            rx_tail = (uint8_t)((rx_tail + 1u) & (RX_SIZE - 1u));
        }
        controller_tick(&body, now);
        set_servos(body.pulse_us);
        if ((int32_t)(now - next_state) >= 0) {
            next_state += STATE_PERIOD_MS;
            send_state(&body, now);
            adc_sweep();
        }
        cli();
        if (rx_tail == rx_head) {
            sleep_enable();
            sei();
            sleep_cpu();
            sleep_disable();
        }
        sei();
    }
}
