/* A MAC address from the command line, "02:00:5e:00:53:01", for the bench's C programs. */
#ifndef T6_BENCH_PARSE_MAC_H
#define T6_BENCH_PARSE_MAC_H

#include <stdio.h>

static int parse_mac(const char *text, unsigned char mac[6])
{
	unsigned v[6];
	if (sscanf(text, "%x:%x:%x:%x:%x:%x", &v[0], &v[1], &v[2], &v[3], &v[4], &v[5]) != 6)
		return -1;
	for (int i = 0; i < 6; i++)
		mac[i] = (unsigned char)v[i];
	return 0;
}

#endif
