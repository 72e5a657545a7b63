/* cli_eval.c — `tsasr eval`: the paper's Table 1 and a per-set breakdown from decode JSONL
 * files, printed as Markdown and optionally written as Markdown and JSON. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/afile.h"
#include "cli/cli.h"
#include "infer/eval.h"

static void eval_usage(FILE *f) {
  fprintf(f,
          "usage: tsasr eval [DECODE.jsonl...] [--name NAME] [--systems NAME=FILE,...]\n"
          "                  [--col LABEL=SET[,SET...]]... [--md OUT.md] [--json OUT.json]\n"
          "  DECODE.jsonl  decode files pooled into one system (called --name, default \"model\")\n"
          "  --systems     one row per NAME (a NAME given twice pools its files), e.g.\n"
          "                BASE=base.jsonl,+CoT=cot.jsonl,+CoT+RL=rl.jsonl\n"
          "  --col         a Table 1 column and the set names it covers; repeat for each column\n"
          "                (default: Single=single,librispeech,test-clean Libri2Mix=libri2mix\n"
          "                Libri3Mix=libri3mix)\n"
          "  --md, --json  also write the tables to these files\n");
}

/* Loads "NAME=FILE,NAME=FILE,..." into t. */
static int eval_load_systems(eval_table *t, const char *spec, ts_err *e) {
  char *copy = strdup(spec);
  if (!copy) return err_set(e, TS_ENOMEM, "out of memory");
  int rc = TS_OK;
  char *save = NULL;
  for (char *tok = strtok_r(copy, ",", &save); !rc && tok; tok = strtok_r(NULL, ",", &save)) {
    char *eq = strchr(tok, '=');
    if (!eq || eq == tok || !eq[1]) {
      rc = err_set(e, TS_EARG, "--systems: \"%s\" is not NAME=FILE", tok);
      break;
    }
    *eq = 0;
    eval_sys *s;
    rc = eval_system(t, tok, &s, e);
    if (!rc) rc = eval_sys_load(s, eq + 1, e);
  }
  free(copy);
  return rc;
}

static int eval_save(const char *path, const char *text, ts_err *e) {
  return afile_write(path, text, strlen(text), e);
}

int cli_eval(int argc, char **argv) {
  const char *name = "model", *md_path = NULL, *json_path = NULL;
  const char **files = calloc((size_t)argc, sizeof *files);
  const char **systems = calloc((size_t)argc, sizeof *systems);
  const char **cols = calloc((size_t)argc, sizeof *cols);
  int n_files = 0, n_systems = 0, n_cols = 0, rc = 0;
  if (!files || !systems || !cols) {
    fprintf(stderr, "tsasr eval: out of memory\n");
    rc = 1;
    goto out;
  }
  for (int i = 1; i < argc; i++) {
    const char *a = argv[i];
    int has_val = i + 1 < argc;
    if (!strcmp(a, "-h") || !strcmp(a, "--help")) {
      eval_usage(stdout);
      goto out;
    } else if (!strcmp(a, "--name") && has_val) {
      name = argv[++i];
    } else if (!strcmp(a, "--systems") && has_val) {
      systems[n_systems++] = argv[++i];
    } else if (!strcmp(a, "--col") && has_val) {
      cols[n_cols++] = argv[++i];
    } else if (!strcmp(a, "--md") && has_val) {
      md_path = argv[++i];
    } else if (!strcmp(a, "--json") && has_val) {
      json_path = argv[++i];
    } else if (a[0] == '-' && a[1]) {
      fprintf(stderr, "tsasr eval: unknown option or missing value: %s\n", a);
      eval_usage(stderr);
      rc = 2;
      goto out;
    } else {
      files[n_files++] = a;
    }
  }
  if (n_files == 0 && n_systems == 0) {
    eval_usage(stderr);
    rc = 2;
    goto out;
  }
  eval_table t;
  eval_init(&t);
  ts_err e = {0};
  int err = TS_OK;
  for (int i = 0; !err && i < n_cols; i++) err = eval_add_column_spec(&t, cols[i], &e);
  if (!err && n_cols == 0) err = eval_default_columns(&t, &e);
  if (!err && n_files) {
    eval_sys *s;
    err = eval_system(&t, name, &s, &e);
    for (int i = 0; !err && i < n_files; i++) err = eval_sys_load(s, files[i], &e);
  }
  for (int i = 0; !err && i < n_systems; i++) err = eval_load_systems(&t, systems[i], &e);
  char *md = NULL, *js = NULL;
  if (!err) err = eval_markdown(&t, &md, &e);
  if (!err && json_path) err = eval_json(&t, &js, &e);
  if (!err && md_path) err = eval_save(md_path, md, &e);
  if (!err && json_path) err = eval_save(json_path, js, &e);
  if (!err) {
    fputs(md, stdout);
    if (fflush(stdout) != 0) rc = 1;
  } else {
    fprintf(stderr, "tsasr eval: %s\n", e.msg);
    rc = err == TS_EARG ? 2 : 1;
  }
  free(md);
  free(js);
  eval_free(&t);
out:
  free(files);
  free(systems);
  free(cols);
  return rc;
}
