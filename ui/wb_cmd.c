/* wb_cmd.c — the command table, `help`, the dispatcher of command lines and the argument
 * helpers. */
#include "wb_cmd.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wb_cmd_int.h"

static char g_exe[4096] = "tsasr"; /* process-wide: this executable, for `run` */

void wb_cmd_set_exe(const char *path) { snprintf(g_exe, sizeof g_exe, "%s", path); }
const char *wb_cmd_exe(void) { return g_exe; }

int wb_parse_int(const char *s, long *v) {
  char *end;
  errno = 0;
  long x = strtol(s, &end, 10);
  if (errno || end == s || *end) return 0;
  *v = x;
  return 1;
}

int wb_parse_num(const char *s, double *v) {
  char *end;
  errno = 0;
  double x = strtod(s, &end);
  if (errno || end == s || *end) return 0;
  *v = x;
  return 1;
}

static const wb_cmd k_cmds[] = {
    {"help", "help [COMMAND]", "list the commands and keys, or explain one command", c_help},
    {"open", "open PATH...", "open a model directory, a manifest JSONL or a decode JSONL (decode records join manifest samples by id)", c_open},
    {"next", "next [N]", "next sample in the list (key n or Down)", c_next},
    {"prev", "prev [N]", "previous sample (key p or Up)", c_prev},
    {"goto", "goto ID|N", "go to a sample by id (Tab completes ids) or list position", c_goto},
    {"first", "first", "first sample in the list (key Home)", c_first},
    {"last", "last", "last sample in the list (key End)", c_last},
    {"decode", "decode [greedy|sample]", "decode the current sample with the model (key d: greedy); sample uses temp and seed", c_decode},
    {"group", "group [G]", "G sampled outputs (default G 8, temp 1) with rewards (1 - WER + format) and GRPO advantages (key g)", c_group},
    {"pick", "pick K", "make output K of the group the sample's shown output (CoT and alignment)", c_pick},
    {"play", "play [mix|enroll|source N|input|stop]", "play part of the input (space: mixture/stop, e: enrollment, 1-3: source)", c_play},
    {"stop", "stop", "stop playback", c_stop},
    {"filter", "filter fmt|target|wer|spk N|marked|id TEXT|noout|clear", "show only format errors, wrong targets, WER > 0, a speaker count, ... (AND-ed; key /)", c_filter},
    {"unfilter", "unfilter", "clear every filter (key c)", c_unfilter},
    {"sort", "sort file|id|wer|spk|fmt|mark [asc|desc]", "order the sample list", c_sort},
    {"mark", "mark [all]", "mark the current sample, or all shown (filtered) samples (key m toggles)", c_mark},
    {"unmark", "unmark [all]", "unmark the current sample, or all shown samples", c_unmark},
    {"export", "export FILE.jsonl", "write the marked samples' manifest lines as an RL selection manifest (atomic)", c_export},
    {"view", "view cot|group|run|text", "switch the lower right pane (key Tab cycles, Esc returns to cot)", c_view},
    {"raw", "raw", "show the raw model output, hypothesis and reference", c_raw},
    {"truth", "truth", "show the CoT the sample should get, built from its truth", c_truth},
    {"info", "info", "show the manifest entry: files, speakers, genders, offsets, similarities", c_info},
    {"set", "set [temp|top_k|top_p|max_new|G|seed|continuous VALUE]", "show or change the decoding settings (top_k 0 / top_p 1: no cut)", c_set},
    {"log", "log", "show the recent messages", c_log},
    {"run", "run RECIPE.lua [key=value...] | run stop", "run `tsasr run RECIPE` as a child: its output and the loss from its metrics.jsonl as a plot", c_run},
    {"plot", "plot METRICS.jsonl [KEY]", "plot a metric (default loss) of a metrics.jsonl in the run pane", c_plot},
    {"lua", "lua EXPR", "evaluate Lua with the tsasr module as `ts` (results and print output in the message line)", c_lua},
    {"quit", "quit", "leave the workbench (key q)", c_quit},
    {"exit", "exit", "same as quit", c_quit},
    {NULL, NULL, NULL, NULL}};

const wb_cmd *wb_cmds(void) { return k_cmds; }

void wb_act_help(wb *w, const char *cmd) {
  if (cmd) {
    for (const wb_cmd *c = k_cmds; c->name; c++)
      if (!strcmp(c->name, cmd)) {
        wb_msg(w, 0, "%s: %s", c->usage, c->help);
        return;
      }
    wb_msg(w, 2, "help: no command \"%s\"", cmd);
    return;
  }
  char t[8192];
  size_t o = (size_t)snprintf(t, sizeof t,
                              "Keys (outside the command line):\n"
                              "  : or Enter  command line     n p / Down Up  next, previous\n"
                              "  Home End    first, last      space  play mixture / stop\n"
                              "  e  i        play enrollment, whole input    1 2 3  play source N\n"
                              "  m           mark / unmark    /      filter ...\n"
                              "  c           clear filters    d      decode (greedy)\n"
                              "  g           group of G       Tab    next view (Esc: CoT)\n"
                              "  PgUp PgDn   scroll the pane  ? h    help      q  quit\n"
                              "Command line: Tab completes commands, ids, settings and paths;\n"
                              "  Up/Down recall history; Esc or Ctrl-C cancels.\n\nCommands:\n");
  for (const wb_cmd *c = k_cmds; c->name && o < sizeof t; c++)
    o += (size_t)snprintf(t + o, sizeof t - o, "%s\n      %s\n", c->usage, c->help);
  wb_set_text(w, t);
}

/* Splits line into argv (at most cap - 1 words) in buf; quotes keep spaces. */
static int split(const char *line, char *buf, size_t bn, char **argv, int cap) {
  int n = 0;
  size_t o = 0;
  const char *p = line;
  while (*p && n < cap - 1) {
    while (isspace((unsigned char)*p)) p++;
    if (!*p) break;
    argv[n++] = buf + o;
    while (*p && !isspace((unsigned char)*p) && o + 1 < bn) {
      if (*p == '"' || *p == '\'') {
        char q = *p++;
        while (*p && *p != q && o + 1 < bn) buf[o++] = *p++;
        if (*p) p++;
      } else {
        buf[o++] = *p++;
      }
    }
    buf[o++] = 0;
    if (o >= bn) break;
  }
  argv[n] = NULL;
  return n;
}

void wb_lua_eval(wb *w, const char *code); /* wb_lua.c */

void wb_cmd_exec(wb *w, const char *line) {
  /* `lua` takes the rest of the line verbatim (Lua has its own quoting) */
  const char *p = line;
  while (isspace((unsigned char)*p)) p++;
  if (!strncmp(p, "lua", 3) && (isspace((unsigned char)p[3]) || !p[3])) {
    p += 3;
    while (isspace((unsigned char)*p)) p++;
    if (*p) {
      wb_lua_eval(w, p);
      return;
    }
  }
  char buf[8192];
  char *argv[64];
  int argc = split(line, buf, sizeof buf, argv, 64);
  if (argc == 0) return;
  for (const wb_cmd *c = k_cmds; c->name; c++)
    if (!strcmp(c->name, argv[0])) {
      c->fn(w, argc, argv);
      return;
    }
  wb_msg(w, 2, "unknown command \"%s\" (help lists the commands)", argv[0]);
}
