// The ICMP prober (probes/icmp.h).
