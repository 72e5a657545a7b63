/* tok_load.c — loading a tokenizer from Hugging Face tokenizer.json, or from vocab.json +
 * merges.txt + added tokens. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/afile.h"
#include "base/jsonx.h"
#include "base/log.h"
#include "bytemap.h"
#include "tok_internal.h"
#include "tokenizer.h"
#include "txbuf.h"

/* vocab object {"byte-level token": id} -> ids and the raw-bytes map. */
static int tok_load_vocab(tok *t, const cJSON *vocab, const char *what, ts_err *e) {
  if (!cJSON_IsObject(vocab)) return err_set(e, TS_EFORMAT, "%s: vocab must be an object", what);
  txbuf raw = {0};
  int rc = TS_OK;
  for (const cJSON *it = vocab->child; it && !rc; it = it->next) {
    if (!cJSON_IsNumber(it) || it->valuedouble < 0 || it->valuedouble > INT32_MAX - 1 ||
        it->valuedouble != floor(it->valuedouble)) {
      rc = err_set(e, TS_EFORMAT, "%s: vocab entry \"%s\": id must be a non-negative integer", what,
                   it->string);
      break;
    }
    int32_t id = (int32_t)it->valuedouble;
    raw.n = 0;
    rc = bytemap_decode(it->string, strlen(it->string), &raw, e);
    if (rc) {
      err_prefix(e, "%s: vocab", what);
      break;
    }
    if (id < t->n_ids && (t->flags[id] & TOKF_PRESENT)) {
      rc = err_set(e, TS_EFORMAT, "%s: vocab entry \"%s\": id %d is used twice", what, it->string,
                   (int)id);
      break;
    }
    rc = tok_set_token(t, id, raw.p, raw.n, 0, e);
    if (!rc) rc = txmap_put(&t->vocab, raw.p, raw.n, id, e);
  }
  txbuf_free(&raw);
  return rc;
}

/* One merge given as two byte-level strings. */
static int tok_add_merge(tok *t, const char *a, size_t na, const char *b, size_t nb,
                         const char *what, size_t index, txbuf *raw, ts_err *e) {
  raw->n = 0;
  int rc = bytemap_decode(a, na, raw, e);
  size_t la = raw->n;
  if (!rc) rc = bytemap_decode(b, nb, raw, e);
  if (rc) return err_prefix(e, "%s: merge %zu", what, index);
  int32_t ia = txmap_get(&t->vocab, raw->p, la);
  int32_t ib = txmap_get(&t->vocab, raw->p + la, raw->n - la);
  int32_t im = txmap_get(&t->vocab, raw->p, raw->n);
  if (ia < 0 || ib < 0 || im < 0) {
    const char *which = ia < 0 ? "left" : ib < 0 ? "right" : "merged";
    return err_set(e, TS_EFORMAT, "%s: merge %zu \"%.*s %.*s\": the %s token is not in the vocabulary",
                   what, index, (int)na, a, (int)nb, b, which);
  }
  if (t->n_merges >= INT32_MAX) return err_set(e, TS_EFORMAT, "%s: too many merges", what);
  rc = bpe_table_put(&t->merges, ia, ib, (int32_t)t->n_merges, im, e);
  if (!rc) t->n_merges++;
  return rc;
}

/* Splits "a b" at its single space. */
static int tok_merge_line(tok *t, const char *s, size_t n, const char *what, size_t index,
                          txbuf *raw, ts_err *e) {
  const char *sp = memchr(s, ' ', n);
  if (!sp || sp == s || sp + 1 == s + n || memchr(sp + 1, ' ', (size_t)(s + n - sp - 1)))
    return err_set(e, TS_EFORMAT, "%s: merge %zu \"%.*s\" is not two tokens separated by a space",
                   what, index, (int)n, s);
  return tok_add_merge(t, s, (size_t)(sp - s), sp + 1, (size_t)(s + n - sp - 1), what, index, raw,
                       e);
}

static int tok_load_merges_json(tok *t, const cJSON *merges, const char *what, ts_err *e) {
  if (!merges || cJSON_IsNull(merges)) return TS_OK;
  if (!cJSON_IsArray(merges)) return err_set(e, TS_EFORMAT, "%s: model.merges must be an array", what);
  txbuf raw = {0};
  int rc = TS_OK;
  size_t i = 0;
  for (const cJSON *m = merges->child; m && !rc; m = m->next, i++) {
    if (cJSON_IsString(m)) {
      rc = tok_merge_line(t, m->valuestring, strlen(m->valuestring), what, i, &raw, e);
    } else if (cJSON_IsArray(m) && cJSON_GetArraySize(m) == 2 && cJSON_IsString(m->child) &&
               cJSON_IsString(m->child->next)) {
      const char *a = m->child->valuestring, *b = m->child->next->valuestring;
      rc = tok_add_merge(t, a, strlen(a), b, strlen(b), what, i, &raw, e);
    } else {
      rc = err_set(e, TS_EFORMAT, "%s: merge %zu must be \"a b\" or [\"a\", \"b\"]", what, i);
    }
  }
  txbuf_free(&raw);
  return rc;
}

static int tok_load_merges_txt(tok *t, const char *path, ts_err *e) {
  char *buf;
  size_t n;
  int rc = afile_read(path, &buf, &n, e);
  if (rc) return rc;
  txbuf raw = {0};
  size_t line = 0, i = 0;
  while (i < n && !rc) {
    size_t j = i;
    while (j < n && buf[j] != '\n') j++;
    size_t end = j;
    if (end > i && buf[end - 1] == '\r') end--;
    line++;
    if (end > i && !(line == 1 && buf[i] == '#')) {
      char what[4200];
      snprintf(what, sizeof what, "%s: line %zu", path, line);
      rc = tok_merge_line(t, buf + i, end - i, what, t->n_merges, &raw, e);
    }
    i = j + 1;
  }
  txbuf_free(&raw);
  free(buf);
  return rc;
}

/* added_tokens array of tokenizer.json: [{"id", "content", "special", ...}]. */
static int tok_load_added_array(tok *t, const cJSON *arr, const char *what, ts_err *e) {
  if (!arr || cJSON_IsNull(arr)) return TS_OK;
  if (!cJSON_IsArray(arr)) return err_set(e, TS_EFORMAT, "%s: added_tokens must be an array", what);
  int i = 0;
  for (const cJSON *a = arr->child; a; a = a->next, i++) {
    char w[4300];
    snprintf(w, sizeof w, "%s: added_tokens[%d]", what, i);
    int64_t id;
    int special, flag;
    int rc = jsonx_int(a, "id", &id, 0, 0, w, e);
    if (rc) return rc;
    const char *content = jsonx_str(a, "content", 0, NULL, w, e);
    if (!content) return e ? e->code : TS_EFORMAT;
    rc = jsonx_bool(a, "special", &special, 1, 0, w, e);
    if (rc) return rc;
    static const char *unsup[] = {"lstrip", "rstrip", "single_word"};
    for (int k = 0; k < 3; k++) {
      rc = jsonx_bool(a, unsup[k], &flag, 1, 0, w, e);
      if (rc) return rc;
      if (flag) log_warn("%s: \"%s\" has %s=true, which is ignored", w, content, unsup[k]);
    }
    if (id < 0 || id > INT32_MAX - 1 || !content[0])
      return err_set(e, TS_EFORMAT, "%s: bad id %lld or empty content", w, (long long)id);
    rc = tok_add_token_id(t, content, special, (int32_t)id, e);
    if (rc) return err_prefix(e, "%s", w);
  }
  return TS_OK;
}

static int tok_load_added_file(tok *t, const char *path, ts_err *e) {
  cJSON *j;
  int rc = jsonx_load(path, &j, e);
  if (rc) return rc;
  const cJSON *root = j;
  const cJSON *dec = cJSON_GetObjectItemCaseSensitive(j, "added_tokens_decoder");
  if (dec) root = dec;
  if (!cJSON_IsObject(root)) {
    cJSON_Delete(j);
    return err_set(e, TS_EFORMAT, "%s: added tokens must be a JSON object", path);
  }
  for (const cJSON *it = root->child; it && !rc; it = it->next) {
    char w[4300];
    snprintf(w, sizeof w, "%s: \"%s\"", path, it->string);
    if (cJSON_IsNumber(it)) { /* {"content": id} */
      rc = tok_add_token_id(t, it->string, 1, (int32_t)it->valuedouble, e);
    } else if (cJSON_IsObject(it)) { /* {"id": {"content", "special"}} */
      char *end;
      long id = strtol(it->string, &end, 10);
      if (*end || id < 0 || id > INT32_MAX - 1) {
        rc = err_set(e, TS_EFORMAT, "%s: key is not a token id", w);
        break;
      }
      int special;
      const char *content = jsonx_str(it, "content", 0, NULL, w, e);
      if (!content) {
        rc = e ? e->code : TS_EFORMAT;
        break;
      }
      rc = jsonx_bool(it, "special", &special, 1, 1, w, e);
      if (!rc) rc = tok_add_token_id(t, content, special, (int32_t)id, e);
    } else {
      rc = err_set(e, TS_EFORMAT, "%s: expected an id or an object", w);
    }
  }
  if (rc) err_prefix(e, "%s", path);
  cJSON_Delete(j);
  return rc;
}

/* normalizer: null, NFC, or a Sequence of those. */
static int tok_parse_normalizer(tok *t, const cJSON *n, const char *what, ts_err *e) {
  if (!n || cJSON_IsNull(n)) return TS_OK;
  const char *type = jsonx_str(n, "type", 0, NULL, what, e);
  if (!type) return err_prefix(e, "normalizer");
  if (!strcmp(type, "NFC")) {
    t->nfc = 1;
    return TS_OK;
  }
  if (!strcmp(type, "Sequence")) {
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(n, "normalizers");
    for (const cJSON *it = list ? list->child : NULL; it; it = it->next) {
      int rc = tok_parse_normalizer(t, it, what, e);
      if (rc) return rc;
    }
    return TS_OK;
  }
  return err_set(e, TS_EUNSUP, "%s: normalizer \"%s\" is not supported (only NFC)", what, type);
}

/* Appends a literal string as a regex (each metacharacter escaped). */
static int tok_regex_literal(const char *s, txbuf *out, ts_err *e) {
  int rc = TS_OK;
  for (; *s && !rc; s++) {
    if (strchr("\\^$.|?*+()[]{}", *s)) rc = txbuf_put(out, "\\", 1, e);
    if (!rc) rc = txbuf_put(out, s, 1, e);
  }
  return rc;
}

/* pre_tokenizer: ByteLevel (use_regex -> GPT-2 pattern), or Sequence [Split(Isolated),
 * ByteLevel(use_regex=false)]. Gets the regex in *pat ("" = whole text is one piece). */
static int tok_parse_pretok(const cJSON *p, const char *what, txbuf *pat, ts_err *e) {
  if (!p || cJSON_IsNull(p)) return TS_OK;
  const char *type = jsonx_str(p, "type", 0, NULL, what, e);
  if (!type) return err_prefix(e, "pre_tokenizer");
  if (!strcmp(type, "ByteLevel")) {
    int use_regex, aps;
    int rc = jsonx_bool(p, "use_regex", &use_regex, 1, 1, what, e);
    if (!rc) rc = jsonx_bool(p, "add_prefix_space", &aps, 1, 0, what, e);
    if (rc) return rc;
    if (aps) return err_set(e, TS_EUNSUP, "%s: ByteLevel add_prefix_space=true is not supported", what);
    if (use_regex) {
      if (pat->n) return err_set(e, TS_EUNSUP, "%s: two splitting pre-tokenizers", what);
      return txbuf_puts(pat, PRETOK_GPT2_PATTERN, e);
    }
    return TS_OK;
  }
  if (!strcmp(type, "Split")) {
    const char *beh = jsonx_str(p, "behavior", 1, "Isolated", what, e);
    int invert;
    int rc = jsonx_bool(p, "invert", &invert, 1, 0, what, e);
    if (rc) return rc;
    if (!beh || strcmp(beh, "Isolated") || invert)
      return err_set(e, TS_EUNSUP, "%s: Split is supported only with behavior Isolated, invert false",
                     what);
    const cJSON *pp = cJSON_GetObjectItemCaseSensitive(p, "pattern");
    const cJSON *re = pp ? cJSON_GetObjectItemCaseSensitive(pp, "Regex") : NULL;
    const cJSON *lit = pp ? cJSON_GetObjectItemCaseSensitive(pp, "String") : NULL;
    if (pat->n) return err_set(e, TS_EUNSUP, "%s: two splitting pre-tokenizers", what);
    if (cJSON_IsString(re)) return txbuf_puts(pat, re->valuestring, e);
    if (cJSON_IsString(lit)) return tok_regex_literal(lit->valuestring, pat, e);
    return err_set(e, TS_EFORMAT, "%s: Split needs pattern {\"Regex\": ...} or {\"String\": ...}", what);
  }
  if (!strcmp(type, "Sequence")) {
    const cJSON *list = cJSON_GetObjectItemCaseSensitive(p, "pretokenizers");
    if (!cJSON_IsArray(list))
      return err_set(e, TS_EFORMAT, "%s: pre_tokenizer Sequence: \"pretokenizers\" must be a list", what);
    for (const cJSON *it = list->child; it; it = it->next) {
      int rc = tok_parse_pretok(it, what, pat, e);
      if (rc) return rc;
    }
    return TS_OK;
  }
  return err_set(e, TS_EUNSUP, "%s: pre_tokenizer \"%s\" is not supported", what, type);
}

static int tok_set_pattern(tok *t, const char *pattern, ts_err *e) {
  if (!pattern || !pattern[0]) return TS_OK;
  int rc = pretok_init(&t->pre, pattern, e);
  if (!rc) t->has_pre = 1;
  return rc;
}

static int tok_from_json(tok *t, const cJSON *j, const char *path, ts_err *e) {
  const cJSON *model = cJSON_GetObjectItemCaseSensitive(j, "model");
  if (!cJSON_IsObject(model)) return err_set(e, TS_EFORMAT, "%s: missing object \"model\"", path);
  const char *type = jsonx_str(model, "type", 1, "BPE", path, e);
  if (!type || strcmp(type, "BPE"))
    return err_set(e, TS_EUNSUP, "%s: model type \"%s\" is not supported (only BPE)", path,
                   type ? type : "?");
  int bf;
  int rc = jsonx_bool(model, "byte_fallback", &bf, 1, 0, path, e);
  if (!rc) rc = jsonx_bool(model, "ignore_merges", &t->ignore_merges, 1, 0, path, e);
  if (rc) return rc;
  if (bf) return err_set(e, TS_EUNSUP, "%s: byte_fallback BPE is not supported", path);
  static const char *empty_keys[] = {"continuing_subword_prefix", "end_of_word_suffix"};
  for (int k = 0; k < 2; k++) {
    const char *v = jsonx_str(model, empty_keys[k], 1, "", path, e);
    if (v && v[0]) return err_set(e, TS_EUNSUP, "%s: model.%s is not supported", path, empty_keys[k]);
  }
  const cJSON *dropout = cJSON_GetObjectItemCaseSensitive(model, "dropout");
  if (dropout && cJSON_IsNumber(dropout) && dropout->valuedouble > 0)
    log_warn("%s: BPE dropout %g is ignored (encoding is deterministic)", path, dropout->valuedouble);
  rc = tok_load_vocab(t, cJSON_GetObjectItemCaseSensitive(model, "vocab"), path, e);
  if (!rc) rc = tok_load_merges_json(t, cJSON_GetObjectItemCaseSensitive(model, "merges"), path, e);
  if (!rc) rc = tok_load_added_array(t, cJSON_GetObjectItemCaseSensitive(j, "added_tokens"), path, e);
  if (!rc) rc = tok_parse_normalizer(t, cJSON_GetObjectItemCaseSensitive(j, "normalizer"), path, e);
  txbuf pat = {0};
  if (!rc) rc = tok_parse_pretok(cJSON_GetObjectItemCaseSensitive(j, "pre_tokenizer"), path, &pat, e);
  if (!rc && pat.n && (rc = tok_set_pattern(t, pat.p, e))) err_prefix(e, "%s", path);
  txbuf_free(&pat);
  if (!rc) rc = tok_finish_load(t, e);
  return rc;
}

int tok_load_json(const char *path, tok **out, ts_err *e) {
  *out = NULL;
  cJSON *j;
  int rc = jsonx_load(path, &j, e);
  if (rc) return rc;
  tok *t;
  rc = tok_new_empty(&t, e);
  if (!rc) {
    rc = tok_from_json(t, j, path, e);
    if (rc) tok_free(t);
    else *out = t;
  }
  cJSON_Delete(j);
  return rc;
}

int tok_load_files(const char *vocab_json, const char *merges_txt, const char *added, tok **out,
                   ts_err *e) {
  *out = NULL;
  cJSON *j;
  int rc = jsonx_load(vocab_json, &j, e);
  if (rc) return rc;
  tok *t;
  rc = tok_new_empty(&t, e);
  if (rc) {
    cJSON_Delete(j);
    return rc;
  }
  t->nfc = 1;
  rc = tok_load_vocab(t, j, vocab_json, e);
  cJSON_Delete(j);
  if (!rc) rc = tok_load_merges_txt(t, merges_txt, e);
  if (!rc && added) rc = tok_load_added_file(t, added, e);
  if (!rc) rc = tok_set_pattern(t, PRETOK_QWEN2_PATTERN, e);
  if (!rc) rc = tok_finish_load(t, e);
  if (rc) tok_free(t);
  else *out = t;
  return rc;
}

static int tok_exists(const char *path) {
  struct stat st;
  return stat(path, &st) == 0 && S_ISREG(st.st_mode);
}

int tok_load(const char *path, tok **out, ts_err *e) {
  struct stat st;
  if (stat(path, &st) != 0) return err_set(e, TS_EIO, "%s: no such tokenizer file or directory", path);
  if (!S_ISDIR(st.st_mode)) return tok_load_json(path, out, e);
  char a[4200], b[4200], c[4200];
  snprintf(a, sizeof a, "%s/tokenizer.json", path);
  if (tok_exists(a)) return tok_load_json(a, out, e);
  snprintf(a, sizeof a, "%s/vocab.json", path);
  snprintf(b, sizeof b, "%s/merges.txt", path);
  if (!tok_exists(a) || !tok_exists(b))
    return err_set(e, TS_EIO, "%s: has neither tokenizer.json nor vocab.json + merges.txt", path);
  snprintf(c, sizeof c, "%s/added_tokens.json", path);
  if (!tok_exists(c)) snprintf(c, sizeof c, "%s/tokenizer_config.json", path);
  return tok_load_files(a, b, tok_exists(c) ? c : NULL, out, e);
}
