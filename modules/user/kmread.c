// SPDX-License-Identifier: GPL-2.0
/*
 * kmread.c - one read() from a device, and what it returned:
 *
 *   kmread [-n] [-a SECONDS [-r]] DEVICE
 *
 *   -n          open the device with O_NONBLOCK
 *   -a SECONDS  a SIGALRM after SECONDS; its handler only counts it, so a read that
 *               sleeps sees the signal as an interruption
 *   -r          install that handler with SA_RESTART: an interrupted read starts again
 */
#define _GNU_SOURCE	/* for strerrorname_np() */
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static volatile sig_atomic_t alarms;

static void on_alarm(int sig)
{
	alarms++;
}

int main(int argc, char **argv)
{
	int opt, fd, err, len, flags = O_RDONLY, restart = 0;
	unsigned int seconds = 0;
	char buf[256];
	ssize_t n;

	while ((opt = getopt(argc, argv, "na:r")) != -1) {
		if (opt == 'n') {
			flags |= O_NONBLOCK;
		} else if (opt == 'a') {
			seconds = atoi(optarg);
		} else if (opt == 'r') {
			restart = 1;
		} else {
			fprintf(stderr, "usage: %s [-n] [-a SECONDS [-r]] DEVICE\n", argv[0]);
			return 2;
		}
	}
	if (optind != argc - 1) {
		fprintf(stderr, "usage: %s [-n] [-a SECONDS [-r]] DEVICE\n", argv[0]);
		return 2;
	}
	fd = open(argv[optind], flags);
	if (fd < 0) {
		perror(argv[optind]);
		return 1;
	}
	if (seconds) {
		struct sigaction sa = { .sa_handler = on_alarm };

		sa.sa_flags = restart ? SA_RESTART : 0;
		sigaction(SIGALRM, &sa, NULL);
		alarm(seconds);
	}

	n = read(fd, buf, sizeof(buf));
	err = errno;

	if (alarms)
		printf("SIGALRM arrived during the read%s\n",
		       restart ? "; SA_RESTART: the kernel started the read again" : "");
	if (n < 0) {
		printf("read: -1 %s (%s)\n", strerrorname_np(err), strerror(err));
		return 0;	/* this program's job is to say what read() returned */
	}
	len = n;
	while (len > 0 && buf[len - 1] == '\n')	/* print the message on one line */
		len--;
	printf("read: %zd bytes, \"%.*s\"\n", n, len, buf);
	close(fd);
	return 0;
}
