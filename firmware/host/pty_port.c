/*
 * Why the slave side is held open here: with the terminal's default line discipline a pty
 * echoes what the master writes back to the master, so until pyserial opens the port and
 * makes it raw, our own state frames would come back to us as input. We make it raw once,
 * and keep a descriptor to it so that raw mode, and the master, survive clients coming
 * and going (a master whose slave is closed by everyone reads EIO).
 */
#define _GNU_SOURCE
#include "pty_port.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <termios.h>
#include <unistd.h>

int pty_port_open(pty_port *port, const char *link)
{
    memset(port, 0, sizeof *port);
    port->master = posix_openpt(O_RDWR | O_NOCTTY | O_NONBLOCK);
    if (port->master < 0 || grantpt(port->master) || unlockpt(port->master))
        return -1;
    if (ptsname_r(port->master, port->path, sizeof port->path))
        return -1;
    port->slave = open(port->path, O_RDWR | O_NOCTTY);
    if (port->slave < 0)
        return -1;
    struct termios tio;
    if (tcgetattr(port->slave, &tio))
        return -1;
    cfmakeraw(&tio);
    if (tcsetattr(port->slave, TCSANOW, &tio))
        return -1;
    if (link && *link) {
        snprintf(port->link, sizeof port->link, "%s", link);
        unlink(link);
        if (symlink(port->path, link))
            return -1;
    }
    return 0;
}

void pty_port_close(pty_port *port)
{
    if (port->link[0])
        unlink(port->link);
    if (port->slave > 0)
        close(port->slave);
    if (port->master > 0)
        close(port->master);
    port->master = port->slave = -1;
}

void pty_port_write(pty_port *port, const uint8_t *data, size_t n)
{
    int queued = 0;
    /* What the slave has not read yet; past 2 KiB nobody is reading: drop, don't truncate. */
    if (ioctl(port->slave, FIONREAD, &queued) == 0 && queued > 2048)
        return;
    while (n) {
        ssize_t done = write(port->master, data, n);
        if (done < 0) {
            if (errno == EINTR)
                continue;
            return;
        }
        data += done;
        n -= (size_t)done;
    }
}
