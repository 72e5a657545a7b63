/* cli_args.c — option parsing for the subcommands (see cli_args.h). */
#include "tensor/backend.h"
#include "tensor/devsim.h"
#include "cli/cli_args.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

int ca_parse(const char *cmd, int argc, char **argv, const ca_opt *opts, int nopts, const char **pos, int npos_max,
             int *npos) {
  *npos = 0;
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    if (strncmp(a, "--", 2) || !strcmp(a, "--")) {
      if (*npos >= npos_max) {
        fprintf(stderr, "tsasr %s: unexpected argument \"%s\"\n", cmd, a);
        return 2;
      }
      pos[(*npos)++] = a;
      continue;
    }
    const ca_opt *o = NULL;
    for (int k = 0; k < nopts; k++)
      if (!strcmp(opts[k].name, a)) o = &opts[k];
    if (!o) {
      fprintf(stderr, "tsasr %s: unknown option %s (see tsasr %s --help)\n", cmd, a, cmd);
      return 2;
    }
    if (o->type == CA_FLAG) {
      *(int *)o->dst = 1;
      continue;
    }
    if (i + 1 >= argc) {
      fprintf(stderr, "tsasr %s: %s needs a value\n", cmd, a);
      return 2;
    }
    const char *v = argv[++i];
    char *end = NULL;
    errno = 0;
    switch (o->type) {
      case CA_INT:
      case CA_I64: {
        long long x = strtoll(v, &end, 10);
        if (errno || !*v || *end) {
          fprintf(stderr, "tsasr %s: %s expects an integer, got \"%s\"\n", cmd, a, v);
          return 2;
        }
        if (o->type == CA_INT && (x < INT_MIN || x > INT_MAX)) {
          fprintf(stderr, "tsasr %s: %s %s is out of range (at most %d in size)\n", cmd, a, v, INT_MAX);
          return 2;
        }
        *(int64_t *)o->dst = x;
      } break;
      case CA_DBL: {
        double x = strtod(v, &end);
        if (errno || !*v || *end || !isfinite(x)) {
          fprintf(stderr, "tsasr %s: %s expects a finite number, got \"%s\"\n", cmd, a, v);
          return 2;
        }
        *(double *)o->dst = x;
      } break;
      case CA_STR: *(const char **)o->dst = v; break;
      case CA_MULTI: {
        const char **arr = o->dst;
        int k = 0;
        while (k < o->max && arr[k]) k++;
        if (k >= o->max) {
          fprintf(stderr, "tsasr %s: %s given more than %d times\n", cmd, a, o->max);
          return 2;
        }
        arr[k] = v;
      } break;
      default: break;
    }
  }
  return 0;
}

void ca_usage(const char *synopsis, const ca_opt *opts, int nopts) {
  printf("usage: %s\n\noptions:\n", synopsis);
  for (int k = 0; k < nopts; k++) {
    const char *t = opts[k].type == CA_INT || opts[k].type == CA_I64 ? "N" : opts[k].type == CA_DBL ? "X" : opts[k].type == CA_FLAG ? "" : "S";
    printf("  %s %-4s %s\n", opts[k].name, t, opts[k].help ? opts[k].help : "");
  }
}

struct backend *ca_device(const char *cmd, const char *name, const char *gemm) {
  if (gemm && !be_gemm_known(gemm)) {
    fprintf(stderr, "tsasr %s: --gemm must be f32, tf32 or bf16, not \"%s\"\n", cmd, gemm);
    return NULL;
  }
  backend *be = NULL;
  if (!name || !strcmp(name, "cpu")) {
    be = be_cpu();
  } else if (!strcmp(name, "devsim")) {
    be = be_devsim();
  } else if (!strcmp(name, "cuda")) {
    ts_err e = {0};
    be = be_cuda(&e);
    if (!be) fprintf(stderr, "tsasr %s: --device cuda: %s\n", cmd, e.msg);
  } else {
    fprintf(stderr, "tsasr %s: --device must be cpu, cuda or devsim, not \"%s\"\n", cmd, name);
  }
  if (be && gemm) {
    ts_err e = {0};
    if (be_set_gemm(be, gemm, &e)) {
      fprintf(stderr, "tsasr %s: --gemm %s: %s\n", cmd, gemm, e.msg);
      return NULL;
    }
  }
  return be;
}
