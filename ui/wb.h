/* wb.h — the workbench entry point: `tsasr wb [MODEL_DIR] [MANIFEST.jsonl | DECODE.jsonl]`
 * (and `tsasr` with no arguments on a terminal). */
#ifndef TS_WB_H
#define TS_WB_H

/* argv[0] is the subcommand name ("wb"); the rest are optional paths: a model directory
 * and/or manifest / decode JSONL files, in any order. Returns the process exit code.
 * Refuses (exit code 2, message on stderr) when stdin or stdout is not a terminal. */
int wb_main(int argc, char **argv);

#endif
