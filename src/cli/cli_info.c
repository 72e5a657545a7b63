/* cli_info.c — `tsasr info FILE`: what a safetensors file or model directory holds. */
#include <stdio.h>

#include "cli/cli.h"

int cli_info(int argc, char **argv) {
  if (argc < 2) {
    fprintf(stderr, "usage: tsasr info FILE.safetensors\n");
    return 2;
  }
  fprintf(stderr, "tsasr info: %s: safetensors reader not built yet\n", argv[1]);
  return 1;
}
