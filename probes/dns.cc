// The DNS prober (probes/dns.h).
