/* main.c — the tsasr command line: dispatches subcommands (doctor, info, ...). */
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include "cli/cli.h"
#ifdef TS_HAVE_UI
#include "ui/wb.h"
#endif

static void cli_usage(FILE *f) {
  fprintf(f,
          "tsasr %s — target-speaker ASR with chain-of-thought and RL\n\n"
          "usage: tsasr COMMAND [ARGS]\n\n"
          "commands:\n"
          "  doctor        show the build: version, BLAS, threads, CUDA and devices\n"
          "  info FILE     list the tensors of a safetensors file (name, dtype, shape)\n"
          "  synth OUT_DIR write the synthetic TTS corpus (LibriSpeech layout; see synth --help)\n"
          "  wb [MODEL_DIR] [MANIFEST|DECODE.jsonl]\n"
          "                the workbench (also: tsasr with no arguments on a terminal)\n"
          "  help          this text\n",
          TSASR_VERSION);
}

int main(int argc, char **argv) {
  if (argc < 2) {
#ifdef TS_HAVE_UI
    if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)) return wb_main(1, (char *[]){"wb", NULL});
#endif
    fprintf(stderr, "tsasr: no command given (not a terminal, so no workbench); see `tsasr help`\n");
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "doctor")) return cli_doctor(argc - 1, argv + 1);
  if (!strcmp(cmd, "info")) return cli_info(argc - 1, argv + 1);
  if (!strcmp(cmd, "synth")) return cli_synth(argc - 1, argv + 1);
  if (!strcmp(cmd, "wb")) {
#ifdef TS_HAVE_UI
    return wb_main(argc - 1, argv + 1);
#else
    fprintf(stderr, "tsasr: this build has no workbench (configure with -DTSASR_UI=ON)\n");
    return 2;
#endif
  }
  if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
    cli_usage(stdout);
    return 0;
  }
  fprintf(stderr, "tsasr: unknown command \"%s\" (try: tsasr help)\n", cmd);
  return 2;
}
