/*
 * firewall.h — the appliance's nftables ruleset, generated from the
 * configuration (SPEC 3.5 item 3): inbound only to the SMTP listeners,
 * outbound TCP only to the route servers, DNS only to the configured
 * resolvers, NTP only to the configured NTP servers — plus four named sets
 * (dns4, dns6, ntp4, ntp6) the appliance's network and ntpd services fill
 * at run time with the resolvers DHCP hands out and the addresses of the
 * NTP server names in ntp.conf; everything else is dropped. Pure: config in, ruleset text out; `mxgate -F -f FILE` prints
 * it and the image's init loads it with `nft -f`.
 */
#ifndef MXGATE_FIREWALL_H
#define MXGATE_FIREWALL_H

#include <stdio.h>

#include "config.h"

/* Writes the ruleset to out; 0, or -1 on a write error. */
int firewall_write(const struct config *cf, FILE *out);

#endif
