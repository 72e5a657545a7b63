/* wb_rl.c — readline's callback interface driven by curses keys: bytes are queued and handed to
 * readline through rl_getc_function, the line is drawn by our redisplay on the bottom row, and
 * readline never touches the terminal itself (no prep/deprep, no signal handlers, output to
 * /dev/null). History persists in $TSASR_WB_HISTORY or ~/.tsasr_wb_history. */
#include "wb_rl.h"

#include <curses.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
/* readline.h needs stdio.h first */
#include <readline/history.h>
#include <readline/readline.h>

#include "wb_cmd.h"
#include "wb_draw.h"

/* Process-wide, as readline itself is. */
static wb *g_w;
static void (*g_on_line)(wb *w, const char *line);
static int g_active;
static unsigned char g_q[64];
static int g_qh, g_qn;
static FILE *g_null;
static char g_hist[4096];
static const char *k_prompt = "> ";

static int q_getc(FILE *f) {
  (void)f;
  if (g_qn == 0) return EOF; /* not reached (readline runs only with bytes queued); EOF cancels */
  int c = g_q[g_qh];
  g_qh = (g_qh + 1) % (int)sizeof g_q;
  g_qn--;
  return c;
}

static int q_avail(void) { return g_qn > 0; }

static void q_push(const char *s, size_t n) {
  for (size_t i = 0; i < n && g_qn < (int)sizeof g_q; i++) {
    g_q[(g_qh + g_qn) % (int)sizeof g_q] = (unsigned char)s[i];
    g_qn++;
  }
}

static void redisplay(void) {
  if (g_w) {
    wb_draw_cmdline(g_w);
    refresh();
  }
}

static void noop_prep(int meta) { (void)meta; }
static void noop_deprep(void) {}

static void on_line(char *line) {
  /* readline hands us the line and expects the handler to be reinstalled for the next one;
   * we close the command line instead: one command per opening */
  rl_callback_handler_remove();
  g_active = 0;
  if (line && *line) {
    HIST_ENTRY *last = history_length > 0 ? history_get(history_base + history_length - 1) : NULL;
    if (!last || strcmp(last->line, line)) add_history(line);
  }
  if (line && g_on_line) g_on_line(g_w, line);
  free(line);
}

/* ---- completion ---- */

static const char *k_words_filter[] = {"fmt", "target", "wer", "spk", "marked", "id", "noout", "clear", NULL};
static const char *k_words_play[] = {"mix", "enroll", "source", "input", "stop", NULL};
static const char *k_words_sort[] = {"file", "id", "wer", "spk", "fmt", "mark", NULL};
static const char *k_words_set[] = {"temp", "top_k", "top_p", "max_new", "G", "seed", "continuous", NULL};
static const char *k_words_view[] = {"cot", "group", "run", "text", NULL};
static const char *k_words_decode[] = {"greedy", "sample", NULL};
static const char *k_words_mark[] = {"all", NULL};
static const char **g_words; /* the list the generator walks, NULL = commands, (void*)1 = ids */
static int g_ids_mode;

static char *gen(const char *text, int state) {
  static int i;
  if (!state) i = 0;
  size_t n = strlen(text);
  if (g_ids_mode) {
    while (g_w && i < g_w->n) {
      const char *id = g_w->it[i++].id;
      if (id && !strncmp(id, text, n)) return strdup(id);
    }
    return NULL;
  }
  if (!g_words) {
    const wb_cmd *c = wb_cmds();
    while (c[i].name) {
      const char *s = c[i++].name;
      if (!strncmp(s, text, n)) return strdup(s);
    }
    return NULL;
  }
  while (g_words[i]) {
    const char *s = g_words[i++];
    if (!strncmp(s, text, n)) return strdup(s);
  }
  return NULL;
}

static char **complete(const char *text, int start, int end) {
  (void)end;
  g_words = NULL;
  g_ids_mode = 0;
  /* the first word of the line */
  const char *b = rl_line_buffer;
  while (*b == ' ') b++;
  const char *e = b;
  while (*e && *e != ' ') e++;
  if (start <= (int)(b - rl_line_buffer)) {
    rl_attempted_completion_over = 1;
    return rl_completion_matches(text, gen);
  }
  char cmd[32];
  size_t n = (size_t)(e - b) < sizeof cmd - 1 ? (size_t)(e - b) : sizeof cmd - 1;
  memcpy(cmd, b, n);
  cmd[n] = 0;
  if (!strcmp(cmd, "open") || !strcmp(cmd, "export") || !strcmp(cmd, "run") || !strcmp(cmd, "plot")) {
    rl_attempted_completion_over = 0; /* readline completes file names */
    return NULL;
  }
  rl_attempted_completion_over = 1;
  if (!strcmp(cmd, "goto")) g_ids_mode = 1;
  else if (!strcmp(cmd, "filter")) g_words = k_words_filter;
  else if (!strcmp(cmd, "play")) g_words = k_words_play;
  else if (!strcmp(cmd, "sort")) g_words = k_words_sort;
  else if (!strcmp(cmd, "set")) g_words = k_words_set;
  else if (!strcmp(cmd, "view")) g_words = k_words_view;
  else if (!strcmp(cmd, "decode")) g_words = k_words_decode;
  else if (!strcmp(cmd, "mark") || !strcmp(cmd, "unmark")) g_words = k_words_mark;
  else if (!strcmp(cmd, "help")) g_words = NULL;
  else return NULL;
  return rl_completion_matches(text, gen);
}

/* Several matches: list them on the message line. */
static void show_matches(char **matches, int n, int max_len) {
  (void)max_len;
  if (!g_w) return;
  char b[256];
  size_t o = (size_t)snprintf(b, sizeof b, "%d matches:", n);
  for (int i = 1; i <= n && o < sizeof b; i++) o += (size_t)snprintf(b + o, sizeof b - o, " %s", matches[i]);
  wb_msg(g_w, 0, "%s", b);
  wb_draw(g_w);
}

void wb_rl_init(wb *w, void (*cb)(wb *w, const char *line)) {
  g_w = w;
  g_on_line = cb;
  g_null = fopen("/dev/null", "w");
  rl_readline_name = "tsasr";
  rl_instream = stdin;
  rl_outstream = g_null ? g_null : stdout;
  rl_getc_function = q_getc;
  rl_input_available_hook = q_avail;
  rl_redisplay_function = redisplay;
  rl_prep_term_function = noop_prep;
  rl_deprep_term_function = noop_deprep;
  rl_catch_signals = 0;
  rl_catch_sigwinch = 0;
  rl_change_environment = 0;
  rl_attempted_completion_function = complete;
  rl_completion_display_matches_hook = show_matches;
  rl_variable_bind("bell-style", "none");
  rl_variable_bind("show-all-if-ambiguous", "on");
  using_history();
  stifle_history(1000);
  const char *h = getenv("TSASR_WB_HISTORY"), *home = getenv("HOME");
  if (h && *h) snprintf(g_hist, sizeof g_hist, "%s", h);
  else if (home && *home) snprintf(g_hist, sizeof g_hist, "%s/.tsasr_wb_history", home);
  if (g_hist[0]) read_history(g_hist);
}

void wb_rl_done(void) {
  if (g_active) rl_callback_handler_remove();
  g_active = 0;
  if (g_hist[0]) write_history(g_hist);
  clear_history();
  if (g_null) fclose(g_null);
  g_null = NULL;
  g_w = NULL;
}

void wb_rl_begin(const char *prefill) {
  g_qh = g_qn = 0;
  rl_callback_handler_install(k_prompt, on_line);
  g_active = 1;
  if (prefill && *prefill) rl_insert_text(prefill);
  redisplay();
}

void wb_rl_cancel(void) {
  if (!g_active) return;
  rl_replace_line("", 0);
  rl_callback_handler_remove();
  g_active = 0;
  g_qh = g_qn = 0;
}

int wb_rl_active(void) { return g_active; }
const char *wb_rl_prompt(void) { return k_prompt; }
const char *wb_rl_text(void) { return g_active && rl_line_buffer ? rl_line_buffer : ""; }
int wb_rl_point(void) { return g_active ? rl_point : 0; }

void wb_rl_key(int ch) {
  if (!g_active) return;
  char b[8];
  size_t n = 0;
  switch (ch) {
    case KEY_UP: b[n++] = 16; break;    /* C-p: previous history */
    case KEY_DOWN: b[n++] = 14; break;  /* C-n */
    case KEY_LEFT: b[n++] = 2; break;   /* C-b */
    case KEY_RIGHT: b[n++] = 6; break;  /* C-f */
    case KEY_HOME: b[n++] = 1; break;   /* C-a */
    case KEY_END: b[n++] = 5; break;    /* C-e */
    case KEY_BACKSPACE: case 8: b[n++] = 127; break;
    case KEY_DC: memcpy(b, "\033[3~", 4), n = 4; break;
    case KEY_ENTER: case '\r': b[n++] = '\n'; break;
    default:
      if (ch >= 0 && ch < 256) b[n++] = (char)ch;
      break;
  }
  if (!n) return;
  q_push(b, n);
  while (g_qn > 0 && g_active) rl_callback_read_char();
  g_qh = g_qn = 0;
}
