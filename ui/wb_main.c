/* wb_main.c — the workbench program: argument handling, curses set-up and guaranteed terminal
 * restore (normal exit, errors, Ctrl-C, SIGTERM/SIGHUP, crashes), the key loop (browse keys and
 * the readline command line), resize, and polling of playback and runs. */
#include "wb.h"

#include <curses.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "wb_audio.h"
#include "wb_cmd.h"
#include "wb_draw.h"
#include "wb_rl.h"
#include "wb_run.h"

/* Process-wide terminal state for the restore paths (signal handlers cannot take arguments). */
static struct termios g_tio;
static int g_have_tio;
static int g_curses_on;
static volatile sig_atomic_t g_sig;

static void term_restore(void) {
  if (!g_curses_on) return;
  g_curses_on = 0;
  endwin();
}

/* Async-signal-safe restore for fatal signals: termios back, leave the alternate screen, show
 * the cursor, reset attributes; then die by the same signal. */
static void on_fatal(int sig) {
  if (g_have_tio) tcsetattr(STDIN_FILENO, TCSANOW, &g_tio);
  static const char seq[] = "\033[0m\033[?1049l\033[?25h\r\n";
  ssize_t r = write(STDOUT_FILENO, seq, sizeof seq - 1);
  (void)r;
  signal(sig, SIG_DFL);
  raise(sig);
}

static void on_quit_signal(int sig) {
  if (g_sig) on_fatal(sig); /* a second Ctrl-C while busy: leave now */
  g_sig = sig;
}

static void install_signals(void) {
  struct sigaction sa;
  memset(&sa, 0, sizeof sa);
  sa.sa_handler = on_quit_signal;
  sigemptyset(&sa.sa_mask);
  sigaction(SIGINT, &sa, NULL);
  sigaction(SIGTERM, &sa, NULL);
  sigaction(SIGHUP, &sa, NULL);
  sa.sa_handler = on_fatal;
  sigaction(SIGSEGV, &sa, NULL);
  sigaction(SIGBUS, &sa, NULL);
  sigaction(SIGFPE, &sa, NULL);
  sigaction(SIGABRT, &sa, NULL);
  signal(SIGPIPE, SIG_IGN);
}

static void log_to_wb(log_level lv, const char *msg, void *user) {
  wb_msg((wb *)user, lv >= LOG_ERROR ? 2 : lv == LOG_WARN ? 1 : 0, "%s", msg);
}

static void run_line(wb *w, const char *line) { wb_cmd_exec(w, line); }

static void show_busy(wb *w) { wb_draw(w); }

static void pane_scroll(wb *w, int d) {
  w->text_top += d;
  if (w->text_top < 0) w->text_top = 0;
}

static void next_view(wb *w) {
  w->view = (w->view + 1) % 4;
  w->text_top = 0;
}

/* A key in browse mode. */
static void browse_key(wb *w, int ch) {
  switch (ch) {
    case ':': case '\n': case '\r': case KEY_ENTER: wb_rl_begin(NULL); break;
    case '/': wb_rl_begin("filter "); break;
    case 'n': case 'j': case KEY_DOWN: wb_act_move(w, 1); break;
    case 'p': case 'k': case KEY_UP: wb_act_move(w, -1); break;
    case KEY_HOME: wb_act_move(w, -w->cur); break;
    case KEY_END: wb_act_move(w, w->n_vis - 1 - w->cur); break;
    case ' ': wb_act_toggle_play(w); break;
    case 'e': wb_act_play(w, WB_PLAY_ENROLL, 0); break;
    case 'i': wb_act_play(w, WB_PLAY_INPUT, 0); break;
    case '1': case '2': case '3': wb_act_play(w, WB_PLAY_SOURCE, ch - '1'); break;
    case 'm': wb_act_toggle_mark(w); break;
    case 'c': wb_cmd_exec(w, "unfilter"); break;
    case 'd': wb_act_decode(w, 0); break;
    case 'g': wb_act_group(w, w->G); break;
    case '\t': next_view(w); break;
    case 27: w->view = WB_VIEW_COT; w->text_top = 0; break;
    case KEY_NPAGE: pane_scroll(w, 10); break;
    case KEY_PPAGE: pane_scroll(w, -10); break;
    case '?': case 'h': wb_act_help(w, NULL); break;
    case 'q': w->quit = 1; break;
    default:
      if (ch >= 32 && ch < 127) wb_msg(w, 1, "key '%c' does nothing here: press : for the command line, ? for help", ch);
      break;
  }
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + 1e-9 * (double)ts.tv_nsec;
}

static int self_exe(char *buf, size_t n) {
  ssize_t k = readlink("/proc/self/exe", buf, n - 1);
  if (k <= 0) return 0;
  buf[k] = 0;
  return 1;
}

int wb_main(int argc, char **argv) {
  for (int i = 1; i < argc; i++)
    if (!strcmp(argv[i], "-h") || !strcmp(argv[i], "--help")) {
      printf("usage: tsasr wb [MODEL_DIR] [MANIFEST.jsonl | DECODE.jsonl ...]\n\n"
             "The workbench: sample list, timeline, CoT check, alignment, playback, GRPO groups,\n"
             "audit filters, marks and export. Inside, `help` lists the commands and keys.\n"
             "See docs/workbench.md.\n");
      return 0;
    }
  if (!isatty(STDIN_FILENO) || !isatty(STDOUT_FILENO)) {
    fprintf(stderr, "tsasr: the workbench needs a terminal (stdin and stdout); see `tsasr help`\n");
    return 2;
  }
  char exe[PATH_MAX];
  if (self_exe(exe, sizeof exe)) wb_cmd_set_exe(exe);
  wb w;
  wb_init(&w);
  log_set_sink(log_to_wb, &w);
  for (int i = 1; i < argc; i++) wb_open_path(&w, argv[i]);
  if (w.n_msg == 0) wb_msg(&w, 0, "welcome: open MODEL_DIR and a manifest or decode JSONL (help lists everything)");

  g_have_tio = tcgetattr(STDIN_FILENO, &g_tio) == 0;
  install_signals();
  atexit(term_restore);
  if (!initscr()) {
    log_set_sink(NULL, NULL);
    fprintf(stderr, "tsasr: cannot start curses on this terminal\n");
    wb_free(&w);
    return 1;
  }
  g_curses_on = 1;
  cbreak();
  noecho();
  nonl();
  keypad(stdscr, TRUE);
  set_escdelay(25);
  timeout(100);
  wb_draw_colors();
  wb_rl_init(&w, run_line);
  w.busy = show_busy;

  int dirty = 1;
  double last_metrics = 0;
  while (!w.quit) {
    if (g_sig) {
      int s = g_sig;
      g_sig = 0;
      if (s == SIGINT && wb_rl_active() && wb_rl_text()[0]) {
        wb_rl_cancel();
        wb_msg(&w, 0, "cancelled");
      } else {
        break;
      }
      dirty = 1;
    }
    if (dirty) {
      wb_draw(&w);
      dirty = 0;
    }
    int ch = getch();
    /* a run: new output, and its metrics file re-read about once a second while it goes */
    int changed = wb_run_poll(w.run);
    double t = now_s();
    if (w.run && (changed || (wb_run_active(w.run) && t - last_metrics > 1.0))) {
      last_metrics = t;
      dirty |= changed;
      const char *mp = wb_run_metrics(w.run);
      int n;
      if (mp[0] && wb_metrics_series(mp, w.plot_key, w.plot, WB_PLOT_MAX, &n, NULL) == TS_OK) {
        if (n != w.n_plot) dirty = 1;
        w.n_plot = n;
        snprintf(w.plot_path, sizeof w.plot_path, "%s", mp);
      }
    }
    if (wb_audio_active(w.audio) || ch == ERR) dirty |= wb_audio_active(w.audio);
    if (ch == ERR) continue;
    dirty = 1;
    if (ch == KEY_RESIZE) {
      clear();
      continue;
    }
    if (wb_rl_active()) {
      if (ch == 27) {
        wb_rl_cancel();
      } else if (ch == 3) {
        wb_rl_cancel();
      } else if (ch == KEY_NPAGE || ch == KEY_PPAGE) {
        pane_scroll(&w, ch == KEY_NPAGE ? 10 : -10);
      } else {
        wb_rl_key(ch);
      }
    } else {
      browse_key(&w, ch);
    }
  }
  wb_audio_stop(w.audio);
  wb_rl_done();
  term_restore();
  log_set_sink(NULL, NULL);
  wb_free(&w);
  return 0;
}
