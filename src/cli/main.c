/* main.c — the tsasr command line: dispatches subcommands (doctor, info, ...). */
#include <stdio.h>
#include <string.h>

#include "cli/cli.h"

static void cli_usage(FILE *f) {
  fprintf(f,
          "tsasr %s — target-speaker ASR with chain-of-thought and RL\n\n"
          "usage: tsasr COMMAND [ARGS]\n\n"
          "commands:\n"
          "  doctor        show the build: version, BLAS, threads, CUDA and devices\n"
          "  info FILE     list the tensors of a safetensors file (name, dtype, shape)\n"
          "  synth OUT_DIR write the synthetic TTS corpus (LibriSpeech layout; see synth --help)\n"
          "  speaker ...   speaker encoder: train, score a manifest's similarities, eval (EER)\n"
          "  help          this text\n",
          TSASR_VERSION);
}

int main(int argc, char **argv) {
  if (argc < 2) {
    cli_usage(stdout);
    return 0;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "doctor")) return cli_doctor(argc - 1, argv + 1);
  if (!strcmp(cmd, "info")) return cli_info(argc - 1, argv + 1);
  if (!strcmp(cmd, "synth")) return cli_synth(argc - 1, argv + 1);
  if (!strcmp(cmd, "speaker")) return cli_speaker(argc - 1, argv + 1);
  if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
    cli_usage(stdout);
    return 0;
  }
  fprintf(stderr, "tsasr: unknown command \"%s\" (try: tsasr help)\n", cmd);
  return 2;
}
