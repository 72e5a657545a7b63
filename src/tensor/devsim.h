/* devsim.h — the simulated device backend (devsim.c): CPU kernels over memory that the host
 * cannot read or write outside an op, for testing device-resident code without a GPU. */
#ifndef TS_DEVSIM_H
#define TS_DEVSIM_H

#include "tensor/backend.h"

/* The process-wide simulated device (tensors carry DEV_SIM). */
backend *be_devsim(void);
/* Misuses caught so far (a tensor outside device memory, a host array inside it); *last
 * names the latest. Host reads of device memory are not counted: they fault. */
long devsim_violations(const char **last);
/* 1 when p points into simulated device memory. */
int devsim_is_device(const void *p);
/* 0: device memory stays readable and writable outside ops (host accesses no longer fault;
 * every other check stays): for a measurement such as bench_device's traffic count, where
 * protecting gigabytes around each op would take most of the time; 1 (the default) again. */
void devsim_set_protect(int on);

#endif
