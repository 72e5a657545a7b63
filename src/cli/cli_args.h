/* cli_args.h — a small table-driven option parser for the subcommands: --name VALUE options
 * of a few types, flags, repeatable strings, and positional arguments, with messages that
 * name the option and what was expected. */
#ifndef TS_CLI_ARGS_H
#define TS_CLI_ARGS_H

#include <stdint.h>

/* CA_INT: an integer in int's range (the commands keep most in int: a larger value used to be
 * truncated silently); CA_I64: any 64-bit integer (seeds) */
typedef enum { CA_INT, CA_DBL, CA_STR, CA_FLAG, CA_MULTI, CA_I64 } ca_type;

typedef struct ca_opt {
  const char *name;  /* "--steps" */
  ca_type type;
  void *dst;         /* int64_t*, double*, const char**, int*, const char** (array of max) */
  int max;           /* CA_MULTI: capacity of the array */
  const char *help;
} ca_opt;

/* Parses argv[1..argc) (argv[0] is the command name). Positionals go into pos (up to npos_max,
 * count in *npos). Returns 0, or 2 after printing a message naming the problem to stderr. */
int ca_parse(const char *cmd, int argc, char **argv, const ca_opt *opts, int nopts, const char **pos, int npos_max,
             int *npos);
void ca_usage(const char *synopsis, const ca_opt *opts, int nopts);
/* The backend named by --device: "cpu", "cuda" or "devsim" (the simulated device that tests
 * device-resident code without a GPU). NULL with a message naming cmd when unknown or absent. */
struct backend;
/* The backend named by --device (cpu, cuda, devsim) with --gemm applied (NULL: the default,
 * TSASR_CUDA_GEMM or f32); NULL after printing the reason. */
struct backend *ca_device(const char *cmd, const char *name, const char *gemm);
#define CA_DEVICE_HELP "cpu | cuda | devsim (simulated device: CPU kernels, device memory rules)"
#define CA_GEMM_HELP "GEMM precision: f32 (default) | bf16 (bf16 inputs, f32 sums: oneDNN on cpu, tensor cores on cuda) | tf32 (cuda)"

#endif
