/** The guest stand-in's packet logic: answers ARP and ICMP echo for one MAC and IPv4 address on TAP-queue frames, with counters and a builder for probe frames. */
package dev.livetap.actors.guest;
