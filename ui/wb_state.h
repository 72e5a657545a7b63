/* wb_state.h — the workbench's data: samples (manifest entries and/or decode records), their
 * scored outputs, marks, the filtered and sorted view, settings, the group view and the
 * message log. No curses here; the panes (wb_draw*.c) only read this. */
#ifndef TS_WB_STATE_H
#define TS_WB_STATE_H

#include <stddef.h>
#include <stdint.h>

#include "base/err.h"
#include "data/cot.h"
#include "data/manifest.h"
#include "infer/cot_parse.h"

/* One model output scored against its sample. Strings are malloc'd. */
typedef struct wb_out {
  char *raw;      /* the model output text */
  char *hyp;      /* normalised answer ("" on a format error) */
  char *ref;      /* normalised reference */
  int format_ok;
  int fmt;        /* cot_fmt_err, or -1 when unknown (decode record without raw) */
  int64_t sub, del, ins, n;
  int wrong_target; /* the CoT named another speaker (or the decode record says so): 1/0, -1 unknown */
  int repetition;   /* -1 unknown */
  int has_reward;
  double reward;
  char origin[16];  /* "decode file", "greedy", "sampled", "group k" */
} wb_out;

void wb_out_free(wb_out *o);
/* WER of the output (errors / max(n, 1)). */
double wb_out_wer(const wb_out *o);

enum { WB_FACTS_NONE = 0, WB_FACTS_OK = 1, WB_FACTS_BAD = -1 };

/* Seconds of silence between enrollment and mixture when the workbench builds a sample's input
 * (timeline, playback, decoding): the open model's (tsm.silence), else the paper's 3 s. */
extern double wb_input_silence;

typedef struct wb_item {
  char *id, *set;
  int has_ent;
  man_entry ent;   /* valid when has_ent */
  char *line;      /* the manifest line as read (export), or NULL */
  char *ref_text;  /* the target transcript as given (manifest text or decode ref) */
  int has_out;
  wb_out out;      /* the output shown (decode file, or the last decode here) */
  int speakers;    /* 0 = unknown */
  int target;      /* 0-based, -1 = unknown */
  int marked;
  /* truth, computed on first need (wb_facts.c) */
  int facts_state;
  cot_facts facts;
  int has_sim;     /* the manifest had similarity scores */
  char facts_err[300];
} wb_item;

enum {
  WB_F_FMT = 1u << 0,    /* format errors */
  WB_F_TARGET = 1u << 1, /* wrong target */
  WB_F_WER = 1u << 2,    /* WER > 0 */
  WB_F_SPK = 1u << 3,    /* speaker count == filt_spk */
  WB_F_MARKED = 1u << 4, /* marked */
  WB_F_ID = 1u << 5,     /* id contains filt_id */
  WB_F_NOOUT = 1u << 6   /* no output yet */
};

enum { WB_SORT_FILE = 0, WB_SORT_ID, WB_SORT_WER, WB_SORT_SPK, WB_SORT_FMT, WB_SORT_MARK };

enum { WB_VIEW_COT = 0, WB_VIEW_GROUP, WB_VIEW_RUN, WB_VIEW_TEXT };

typedef struct wb_group {
  int G;
  int item;        /* index into items */
  double temp;
  wb_out *o;       /* (G) */
  float *adv;      /* (G) */
  int64_t zero_std;
} wb_group;

#define WB_MSG_N 64
#define WB_PLOT_MAX 4096

typedef struct wb_run wb_run; /* child process of `run` (wb_run.c) */
typedef struct wb_model wb_model;
typedef struct wb_audio wb_audio;

typedef struct wb {
  void *lua;       /* lua_State of the `lua` command (created on first use), or NULL */
  wb_item *it;
  int n, cap;
  int *vis;        /* (n_vis) item indices in view order */
  int n_vis;
  int cur;         /* position in vis; -1 when the view is empty */
  int list_top;    /* first row of the list pane */
  unsigned filt;
  int filt_spk;
  char filt_id[128];
  int sort_key, sort_desc;
  char manifest_path[4096];
  char decode_path[4096];

  /* settings */
  double temp;     /* sampling temperature for `decode sample` and `group` */
  int top_k;       /* ... and their top-k (0: off) and nucleus (1: off) cuts */
  double top_p;
  int max_new;
  int G;
  uint64_t seed;
  int continuous;  /* similarity as scores in the CoT check */

  wb_model *model;
  wb_audio *audio;
  wb_run *run;
  wb_group group;

  int view;
  char *text;      /* the text view (help, info); malloc'd */
  int text_top;

  /* loss plot (run view / `plot`) */
  double plot[WB_PLOT_MAX];
  int n_plot;
  char plot_key[32];
  char plot_path[4096];

  /* messages: a ring; the newest is shown on the message line */
  char msg[WB_MSG_N][256];
  int msg_level[WB_MSG_N]; /* 0 info, 1 warn, 2 error */
  int n_msg;

  int quit;
  /* called before a long operation (decode, group) so the screen can show the message first;
   * may be NULL */
  void (*busy)(struct wb *w);
} wb;

void wb_init(wb *w);
void wb_free(wb *w);
void wb_msg(wb *w, int level, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
const char *wb_last_msg(const wb *w, int *level);
/* Replaces the text view's contents (and switches to it). */
void wb_set_text(wb *w, const char *text);

/* Items */
wb_item *wb_add_item(wb *w, ts_err *e);
int wb_find(const wb *w, const char *id);
wb_item *wb_current(wb *w);
int wb_current_index(const wb *w);
void wb_item_free(wb_item *x);
void wb_group_free(wb_group *g);
void wb_clear_items(wb *w);

/* Loading (wb_load.c): a manifest or a decode JSONL, told apart by the keys of the first good
 * line ("sources" vs "hyp"). Decode records attach to manifest items with the same id, other
 * records become text-only items. Bad lines are skipped with a message naming file:line.
 * *kind gets "manifest" or "decode". */
int wb_open_file(wb *w, const char *path, const char **kind, ts_err *e);

/* View (wb_filter.c) */
void wb_refilter(wb *w);
int wb_item_passes(const wb *w, const wb_item *x);
/* Describes the active filters ("fmt wer spk=2") into buf; "none" when none. */
void wb_filter_desc(const wb *w, char *buf, size_t n);
const char *wb_sort_name(int key);
int wb_sort_parse(const char *s);
void wb_goto_pos(wb *w, int pos);

/* Export (wb_export.c): the marked items' manifest lines, JSONL, atomically. *n_written and
 * *n_missing (marked items without a manifest line). */
int wb_export_marks(const wb *w, const char *path, int *n_written, int *n_missing, ts_err *e);
/* Marked lines with relative audio paths when path is in another folder than the manifest
 * (those paths then no longer resolve: the lines are kept as they were). */
int wb_export_moves_relative(const wb *w, const char *path);

/* Truth and scoring (wb_facts.c) */
/* Fills x->facts (timeline from the audio via sample_build when it can be read, else from the
 * manifest's durations). */
int wb_item_facts(wb_item *x, ts_err *e);
/* Scores a raw output against the item: format check, answer, normalisation, WER, wrong
 * target (when facts are known). o is initialised here. */
int wb_score(wb_item *x, const char *raw, wb_out *o, ts_err *e);
/* CoT check of the item's output against its facts; fills p and c; returns TS_OK or an
 * error when there is no output or no facts (message in e). */
int wb_check_cot(wb_item *x, const wb_out *o, int continuous, cot_parsed *p, cot_check *c, ts_err *e);

#endif
