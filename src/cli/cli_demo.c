/* cli_demo.c — `tsasr demo [MODEL_DIR] [MANIFEST]`: what a new user sees without a terminal.
 * Decodes the demo set with the shipped small model (greedy), prints a few samples — the
 * model's reasoning, each CoT step checked against the sample's truth, its answer against the
 * reference — then the demo set's WER table and the model card's results table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/afile.h"
#include "cli/cli.h"
#include "cli/cli_args.h"
#include "data/cot_sample.h"
#include "data/manifest.h"
#include "infer/cot_parse.h"
#include "infer/decode.h"
#include "infer/eval.h"

#define DEMO_MODEL "models/small"
#define DEMO_MANIFEST "data/demo/demo.jsonl"

/* path as given when it exists, else under the source tree (running from elsewhere) */
static const char *demo_find(const char *given, char *buf, size_t n) {
  struct stat st;
  if (stat(given, &st) == 0 || given[0] == '/') return given;
  snprintf(buf, n, "%s/%s", TSASR_SOURCE_DIR, given);
  return stat(buf, &st) == 0 ? buf : given;
}

static const char *gname(cot_gender g) { return g == COT_MALE ? "male" : g == COT_FEMALE ? "female" : "?"; }

/* The reasoning, indented, one line per line of the think body. */
static void demo_print_think(const char *think) {
  if (!think || !*think) {
    printf("    (empty think)\n");
    return;
  }
  const char *p = think;
  while (*p) {
    const char *q = strchr(p, '\n');
    size_t len = q ? (size_t)(q - p) : strlen(p);
    if (len) printf("    %.*s\n", (int)len, p);
    p += len + (q ? 1 : 0);
  }
}

/* Step-by-step check of the output against the truth of its manifest entry. */
static void demo_print_check(const man_entry *x, const drec *r, double silence) {
  sample_opts so;
  sample_opts_default(&so);
  so.silence = silence;
  sample s;
  memset(&s, 0, sizeof s);
  ts_err e;
  cot_facts f;
  int has_sim = 0;
  if (sample_build(x, &so, &s, &e)) {
    printf("  CoT check: no truth (%s)\n", e.msg);
    return;
  }
  int rc = cot_facts_from_sample(&s, NULL, &f, &has_sim, &e);
  sample_free(&s);
  cot_parsed p;
  cot_check c;
  if (!rc) rc = cot_parse(r->raw, strlen(r->raw), &p, &e);
  if (!rc) rc = cot_check_run(&p, &f, NULL, &c, &e);
  if (rc) {
    printf("  CoT check: %s\n", e.msg);
    return;
  }
  if (p.think_empty) {
    printf("  CoT check: empty think (nothing to check)\n");
    return;
  }
  printf("  CoT check: %d of %d steps right%s\n", c.n_ok, c.n_steps, has_sim ? "" : " (no similarity scores in the manifest)");
  for (int i = 0; i < c.n_steps; i++)
    if (c.step[i].status != COT_STEP_OK)
      printf("    %-8s %-20s %s\n", cot_step_status_name(c.step[i].status), c.step[i].name, c.step[i].detail);
  printf("  truth: %d speaker%s, enrollment %s, target Speaker%d\n", f.n_speakers, f.n_speakers > 1 ? "s" : "",
         gname(f.enroll_gender), f.target + 1);
}

/* The mixture of a record: its id up to the "-sK" target suffix. */
static size_t demo_mix_len(const char *id) {
  const char *s = strrchr(id, '-');
  return s && s[1] == 's' ? (size_t)(s - id) : strlen(id);
}

/* Up to n records, 2-, 3- and 1-speaker in turn, each from a different mixture. */
static void demo_pick(const drec *recs, size_t nr, int n, size_t *pick, int *np) {
  static const int order[3] = {2, 3, 1};
  *np = 0;
  for (int round = 0; round < 3 * n && *np < n; round++) {
    int want = order[round % 3];
    for (size_t i = 0; i < nr; i++) {
      int k = recs[i].speakers > 0 ? recs[i].speakers : 1, seen = 0;
      if (k != want) continue;
      for (int j = 0; j < *np && !seen; j++) {
        const char *a = recs[pick[j]].id, *b = recs[i].id;
        seen = demo_mix_len(a) == demo_mix_len(b) && !strncmp(a, b, demo_mix_len(a));
      }
      if (!seen) {
        pick[(*np)++] = i;
        break;
      }
    }
  }
}

int cli_demo(int argc, char **argv) {
  int64_t n_show = 4, max_new = 300, batch = 8;
  const char *out = NULL;
  ca_opt o[] = {{"--n", CA_INT, &n_show, 0, "samples to show (default 4)"},
                {"--out", CA_STR, &out, 0, "decode JSONL to write (default: next to the manifest)"},
                {"--max-new", CA_INT, &max_new, 0, "max new tokens (default 300, as the recipes' eval)"},
                {"--batch", CA_INT, &batch, 0, "inputs per batch (default 8)"}};
  int no = (int)(sizeof o / sizeof o[0]);
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "--help")) {
      ca_usage("tsasr demo [MODEL_DIR] [MANIFEST] [options]   (defaults: " DEMO_MODEL ", " DEMO_MANIFEST ")", o, no);
      return 0;
    }
  const char *pos[2] = {DEMO_MODEL, DEMO_MANIFEST};
  int np;
  if (ca_parse("demo", argc, argv, o, no, pos, 2, &np)) return 2;
  if (n_show < 1 || n_show > 64) n_show = 4;
  char mbuf[4096], fbuf[4096], obuf[4200], cbuf[4200];
  const char *model = demo_find(pos[0], mbuf, sizeof mbuf), *man = demo_find(pos[1], fbuf, sizeof fbuf);
  if (!out) {
    snprintf(obuf, sizeof obuf, "%.*s.decode.jsonl", (int)(strlen(man) > 6 ? strlen(man) - 6 : strlen(man)), man);
    out = obuf;
  }
  ts_err e;
  manifest mf;
  man_init(&mf);
  if (man_read(man, &mf, &e)) {
    fprintf(stderr, "tsasr demo: %s\n(the demo set is made by scripts/setup.sh)\n", e.msg);
    return 1;
  }
  tsm *m;
  if (tsm_load(model, be_cpu(), 0, 0, &m, &e)) {
    fprintf(stderr, "tsasr demo: %s\n", e.msg);
    man_free(&mf);
    return 1;
  }
  printf("tsasr demo: model %s, %lld samples of %s (inputs: enrollment | %.2g s silence | mixture)\n\n", model,
         (long long)mf.n, man, m->silence);
  decode_cfg c;
  decode_cfg_default(&c);
  c.manifest = man;
  c.out = out;
  c.batch = (int)batch;
  c.gen.max_new = (int)max_new;
  c.resume = 0;
  c.sample.silence = -1;
  remove(out);
  decode_summary s;
  int rc = decode_run(m, &c, &s, &e);
  if (rc) {
    fprintf(stderr, "tsasr demo: %s\n", e.msg);
    tsm_free(m);
    man_free(&mf);
    return 1;
  }
  drec *recs = NULL;
  size_t nr = 0;
  if (drec_read_all(out, &recs, &nr, NULL, &e)) {
    fprintf(stderr, "tsasr demo: %s\n", e.msg);
    tsm_free(m);
    man_free(&mf);
    return 1;
  }
  size_t pick[64];
  int npick;
  demo_pick(recs, nr, (int)n_show, pick, &npick);
  for (int i = 0; i < npick; i++) {
    const drec *r = &recs[pick[i]];
    const man_entry *x = NULL;
    for (int64_t k = 0; k < mf.n && !x; k++)
      if (!strcmp(mf.e[k].id, r->id)) x = &mf.e[k];
    printf("== %s (%s)\n", r->id, r->set);
    if (r->format_ok) {
      printf("  reasoning:\n");
      demo_print_think(r->think);
    } else {
      printf("  output (format error: %s):\n", r->fmt ? r->fmt : "?");
      demo_print_think(r->raw);
    }
    if (x) demo_print_check(x, r, m->silence);
    printf("  REF  %s\n  HYP  %s\n", r->ref, r->hyp);
    double w = r->n > 0 ? 100.0 * (double)drec_errors(r) / (double)r->n : 0.0;
    printf("  WER %.1f%% (S %lld D %lld I %lld)%s%s\n\n", w, (long long)r->sub, (long long)r->del, (long long)r->ins,
           r->format_ok ? "" : ", format error", r->wrong_speaker == 1 ? ", transcribed an interfering speaker" : "");
  }
  /* the demo set's table */
  eval_table t;
  eval_init(&t);
  eval_sys *sys;
  char *md = NULL;
  rc = eval_default_columns(&t, &e);
  if (!rc) rc = eval_system(&t, "demo set", &sys, &e);
  for (size_t i = 0; !rc && i < nr; i++) rc = eval_sys_add(sys, &recs[i], &e);
  if (!rc) rc = eval_markdown(&t, &md, &e);
  if (!rc) printf("Demo set (%lld samples, greedy, %.1f tokens/s):\n\n%s\n", (long long)s.n, s.tokens_per_s, md);
  free(md);
  eval_free(&t);
  drec_free_all(recs, nr);
  /* the model card's table, when shipped with the model */
  snprintf(cbuf, sizeof cbuf, "%s/RESULTS.md", model);
  char *card = NULL;
  size_t cn = 0;
  if (!rc && afile_read(cbuf, &card, &cn, NULL) == TS_OK) {
    printf("Results of this model on the full test sets (%s):\n\n%.*s\n", cbuf, (int)cn, card);
    free(card);
  }
  if (rc) fprintf(stderr, "tsasr demo: %s\n", e.msg);
  tsm_free(m);
  man_free(&mf);
  return rc ? 1 : 0;
}
