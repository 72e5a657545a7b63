/* synth_text.c — GRID-style grammar, book sentence extraction, LibriSpeech-style normalisation. */
#include "data/synth_text.h"

#include <ctype.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/afile.h"

/* ---- normalisation ---- */

int stext_normalise(const char *in, char *out, size_t cap) {
  size_t o = 0;
  int words = 0, in_word = 0;
  if (cap == 0) return -1;
  for (const unsigned char *p = (const unsigned char *)in; *p; p++) {
    unsigned char ch = *p;
    if (ch >= 0x80 || isdigit(ch)) return -1;
    int letter = isalpha(ch);
    /* an apostrophe counts only between two letters (TOM'S, DON'T), not as a quote */
    int apos = ch == '\'' && in_word && isalpha(p[1]);
    if (letter || apos) {
      if (!in_word) {
        if (words && o + 1 < cap) out[o++] = ' ';
        words++;
        in_word = 1;
      }
      if (o + 1 < cap) out[o++] = (char)toupper(ch);
    } else {
      in_word = 0;
    }
  }
  out[o] = 0;
  return words;
}

void stext_for_tts(const char *t, char *out, size_t cap) {
  size_t o = 0;
  for (; *t && o + 2 < cap; t++) out[o++] = (char)tolower((unsigned char)*t);
  if (o + 1 < cap) out[o++] = '.';
  out[o] = 0;
}

/* ---- GRID-style grammar ---- */

static const char *G_VERB[] = {"BIN", "LAY", "PLACE", "SET", "PUT", "MOVE", "DROP", "TAKE", "PUSH", "PULL"};
static const char *G_COLOUR[] = {"BLUE", "GREEN", "RED", "WHITE", "BLACK", "YELLOW", "BROWN", "PINK", "GRAY", "ORANGE"};
static const char *G_OBJECT[] = {"BOX", "BALL", "CUP", "PEN", "KEY", "BOOK", "HAT", "SHOE", "CARD", "RING"};
static const char *G_PREP[] = {"AT", "BY", "IN", "WITH", "ON", "NEAR", "UNDER", "BEHIND"};
/* letters as in GRID (no W; no A, which TTS reads as the article) */
static const char *G_LETTER[] = {"B", "C", "D", "E", "F", "G", "H", "I", "J", "K", "L", "M",
                                 "N", "O", "P", "Q", "R", "S", "T", "U", "V", "X", "Y", "Z"};
static const char *G_DIGIT[] = {"ZERO", "ONE", "TWO", "THREE", "FOUR", "FIVE", "SIX", "SEVEN", "EIGHT", "NINE"};
static const char *G_ADVERB[] = {"AGAIN", "NOW", "PLEASE", "SOON", "QUICKLY", "SLOWLY", "TODAY", "LATER"};
#define NW(a) ((int)(sizeof a / sizeof *a))

void stext_grid(philox_rng *r, char *out, size_t cap) {
  const char *v = G_VERB[philox_below(r, NW(G_VERB))];
  const char *c = G_COLOUR[philox_below(r, NW(G_COLOUR))];
  int has_obj = philox_below(r, 2) == 0;
  const char *ob = G_OBJECT[philox_below(r, NW(G_OBJECT))];
  const char *p = G_PREP[philox_below(r, NW(G_PREP))];
  const char *l = G_LETTER[philox_below(r, NW(G_LETTER))];
  const char *d = G_DIGIT[philox_below(r, NW(G_DIGIT))];
  const char *a = G_ADVERB[philox_below(r, NW(G_ADVERB))];
  if (has_obj)
    snprintf(out, cap, "%s %s %s %s %s %s %s", v, c, ob, p, l, d, a);
  else
    snprintf(out, cap, "%s %s %s %s %s %s", v, c, p, l, d, a);
}

int stext_grid_vocab(void) {
  return NW(G_VERB) + NW(G_COLOUR) + NW(G_OBJECT) + NW(G_PREP) + NW(G_LETTER) + NW(G_DIGIT) +
         NW(G_ADVERB);
}

/* ---- book sentences ---- */

void stext_pool_free(stext_pool *p) {
  for (int i = 0; i < p->n; i++) free(p->s[i]);
  free(p->s);
  memset(p, 0, sizeof *p);
}

static int cmp_str(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

typedef struct spair {
  const char *s;
  int i;
} spair;

static int cmp_pair(const void *x, const void *y) {
  const spair *a = x, *b = y;
  int r = strcmp(a->s, b->s);
  return r ? r : (a->i > b->i) - (a->i < b->i);
}

static int is_abbrev(const char *buf, size_t end) {
  /* "Mr." "Mrs." "Dr." "St." before position end (the dot) */
  static const char *ab[] = {"Mr", "Mrs", "Dr", "St", "Messrs"};
  for (size_t k = 0; k < sizeof ab / sizeof *ab; k++) {
    size_t l = strlen(ab[k]);
    if (end >= l && !strncmp(buf + end - l, ab[k], l) && (end == l || !isalpha((unsigned char)buf[end - l - 1])))
      return 1;
  }
  return 0;
}

static int pool_add(stext_pool *p, const char *s) {
  if (p->n == p->cap) {
    int nc = p->cap ? p->cap * 2 : 256;
    char **ns = realloc(p->s, sizeof *ns * (size_t)nc);
    if (!ns) return -1;
    p->s = ns;
    p->cap = nc;
  }
  p->s[p->n] = strdup(s);
  if (!p->s[p->n]) return -1;
  p->n++;
  return 0;
}

int stext_book(const char *path, int min_words, int max_words, stext_pool *p, ts_err *e) {
  memset(p, 0, sizeof *p);
  char *buf;
  size_t n;
  int rc = afile_read(path, &buf, &n, e);
  if (rc) return err_prefix(e, "book text");
  /* paragraphs: blank lines break sentences too; other newlines are spaces */
  char *sent = malloc(n + 1);
  char *norm = malloc(n + 1);
  if (!sent || !norm) {
    free(buf);
    free(sent);
    free(norm);
    return err_set(e, TS_ENOMEM, "%s: out of memory", path);
  }
  size_t sl = 0;
  for (size_t i = 0; i <= n; i++) {
    char ch = i < n ? buf[i] : 0;
    int para = ch == '\n' && i + 1 < n && buf[i + 1] == '\n';
    int end = 0;
    if (ch == '.' || ch == '!' || ch == '?') {
      char nx = i + 1 < n ? buf[i + 1] : ' ';
      end = (isspace((unsigned char)nx) || nx == '"' || nx == '\'' || nx == ')') &&
            !(ch == '.' && is_abbrev(sent, sl));
    }
    if (ch && !para) sent[sl++] = ch == '\n' || ch == '\r' ? ' ' : ch;
    if (end || para || !ch) {
      sent[sl] = 0;
      int w = stext_normalise(sent, norm, n + 1);
      if (w >= min_words && w <= max_words && !strstr(norm, "GUTENBERG") && !strstr(norm, "EBOOK") &&
          !strstr(norm, "PRODUCED BY") && !strstr(norm, "CHAPTER")) {
        if (pool_add(p, norm)) {
          rc = err_set(e, TS_ENOMEM, "%s: out of memory", path);
          break;
        }
      }
      sl = 0;
    }
  }
  free(buf);
  free(sent);
  free(norm);
  if (rc) {
    stext_pool_free(p);
    return rc;
  }
  /* drop repeated sentences, keeping the first occurrence (book order) */
  spair *a = malloc(sizeof *a * (size_t)(p->n ? p->n : 1));
  char *keep = calloc((size_t)(p->n ? p->n : 1), 1);
  if (!a || !keep) {
    free(a);
    free(keep);
    stext_pool_free(p);
    return err_set(e, TS_ENOMEM, "%s: out of memory", path);
  }
  for (int i = 0; i < p->n; i++) a[i] = (spair){p->s[i], i};
  qsort(a, (size_t)p->n, sizeof *a, cmp_pair);
  for (int i = 0; i < p->n; i++)
    if (i == 0 || strcmp(a[i].s, a[i - 1].s)) keep[a[i].i] = 1;
  int k = 0;
  for (int i = 0; i < p->n; i++) {
    if (keep[i])
      p->s[k++] = p->s[i];
    else
      free(p->s[i]);
  }
  p->n = k;
  free(a);
  free(keep);
  if (p->n == 0) return err_set(e, TS_EFORMAT, "%s: no sentences of %d..%d words", path, min_words, max_words);
  return TS_OK;
}

int stext_vocab(char *const *s, int n) {
  /* collect words, sort, count distinct */
  size_t cap = 1024, nw = 0;
  char **w = malloc(sizeof *w * cap);
  if (!w) return -1;
  for (int i = 0; i < n; i++) {
    const char *p = s[i];
    while (*p) {
      while (*p == ' ') p++;
      const char *q = p;
      while (*q && *q != ' ') q++;
      if (q > p) {
        if (nw == cap) {
          cap *= 2;
          char **nn = realloc(w, sizeof *w * cap);
          if (!nn) {
            for (size_t k = 0; k < nw; k++) free(w[k]);
            free(w);
            return -1;
          }
          w = nn;
        }
        w[nw++] = strndup(p, (size_t)(q - p));
      }
      p = q;
    }
  }
  qsort(w, nw, sizeof *w, cmp_str);
  int d = 0;
  for (size_t i = 0; i < nw; i++)
    if (i == 0 || strcmp(w[i], w[i - 1])) d++;
  for (size_t i = 0; i < nw; i++) free(w[i]);
  free(w);
  return d;
}
