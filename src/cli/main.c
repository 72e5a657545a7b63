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
          "  info FILE|DIR tensors of a safetensors file, or a model directory's architecture and sizes\n"
          "  synth OUT_DIR write the synthetic TTS corpus (LibriSpeech layout; see synth --help)\n"
          "  eval FILE...  WER tables (paper Table 1 + per set) from decode JSONL\n"
          "  select FILE   choose the RL training subset from a training-set decode\n"
          "  mix CORPUS --out M  LibriMix-style mixture manifest (1/2/3 speakers, enrollment)\n"
          "  model new|assemble  make a model directory (from a config, or HF Qwen2 + HF encoder)\n"
          "  train sft|grpo      the training stages (BASE/CoT SFT, GRPO) with resumable runs\n"
          "  decode MODEL MANIFEST --out F  batched decoding into a scored decode JSONL\n"
          "  speaker ...   speaker encoder: train, score a manifest's similarities, eval (EER)\n"
          "  demo [MODEL_DIR] [MANIFEST]  decode the demo set with the small model: CoT traces checked\n"
          "                step by step, answers vs references, the results table\n"
          "  wb [MODEL_DIR] [MANIFEST|DECODE.jsonl]\n"
          "                the workbench (also: tsasr with no arguments on a terminal)\n"
          "  run RECIPE.lua [key=value ...]  run a Lua recipe (--dry-run: print its configuration)\n"
          "  lua [FILE | -e CODE]  interactive Lua prompt with the tsasr module (or run a file)\n"
          "  help          this text\n",
          TSASR_VERSION);
}

int main(int argc, char **argv) {
  if (argc < 2) {
#ifdef TS_HAVE_UI
    if (isatty(STDIN_FILENO) && isatty(STDOUT_FILENO)) return wb_main(1, (char *[]){"wb", NULL});
#endif
    fprintf(stderr, "tsasr: no command given (not a terminal, so no workbench); try `tsasr demo`, or see `tsasr help`\n");
    return 2;
  }
  const char *cmd = argv[1];
  if (!strcmp(cmd, "doctor")) return cli_doctor(argc - 1, argv + 1);
  if (!strcmp(cmd, "info")) return cli_info(argc - 1, argv + 1);
  if (!strcmp(cmd, "synth")) return cli_synth(argc - 1, argv + 1);
  if (!strcmp(cmd, "eval")) return cli_eval(argc - 1, argv + 1);
  if (!strcmp(cmd, "select")) return cli_select(argc - 1, argv + 1);
  if (!strcmp(cmd, "train")) return cli_train(argc - 1, argv + 1);
  if (!strcmp(cmd, "decode")) return cli_decode(argc - 1, argv + 1);
  if (!strcmp(cmd, "model")) return cli_model(argc - 1, argv + 1);
  if (!strcmp(cmd, "mix")) return cli_mix(argc - 1, argv + 1);
  if (!strcmp(cmd, "speaker")) return cli_speaker(argc - 1, argv + 1);
  if (!strcmp(cmd, "demo")) return cli_demo(argc - 1, argv + 1);
  if (!strcmp(cmd, "wb")) {
#ifdef TS_HAVE_UI
    return wb_main(argc - 1, argv + 1);
#else
    fprintf(stderr, "tsasr: this build has no workbench (configure with -DTSASR_UI=ON)\n");
    return 2;
#endif
  }
#ifdef TS_HAVE_LUA
  if (!strcmp(cmd, "run")) return cli_run(argc - 1, argv + 1);
  if (!strcmp(cmd, "lua")) return cli_lua(argc - 1, argv + 1);
#endif
  if (!strcmp(cmd, "help") || !strcmp(cmd, "--help") || !strcmp(cmd, "-h")) {
    cli_usage(stdout);
    return 0;
  }
  fprintf(stderr, "tsasr: unknown command \"%s\" (try: tsasr help)\n", cmd);
  return 2;
}
