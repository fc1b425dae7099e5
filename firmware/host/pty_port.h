/*
 * A pseudo-terminal that stands in for the board's USB serial port: the host body and the
 * simavr harness talk on its master side, pyserial opens its slave side like /dev/ttyACM0.
 * An optional symlink gives the port a fixed name, so a test can "unplug" the body (end
 * the process) and "plug in" a new one under the same name.
 */
#ifndef NEMURI_PTY_PORT_H
#define NEMURI_PTY_PORT_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int master;
    int slave; /* held open by us: see pty_port.c */
    char path[128];
    char link[512];
} pty_port;

int pty_port_open(pty_port *port, const char *link); /* 0, or -1 with errno */
void pty_port_close(pty_port *port);
/* Write all of data or none of it when the other side is not draining (never blocks). */
void pty_port_write(pty_port *port, const uint8_t *data, size_t n);

#endif
