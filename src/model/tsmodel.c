/* tsmodel.c — composed model: directory load/save, assembly from HF parts, description. */
#include "model/tsmodel.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "base/afile.h"
#include "base/jsonx.h"
#include "base/philox.h"
#include "tensor/params_io.h"
#include "nn/ctc.h"

#define TRY(x)           \
  do {                   \
    int rc_ = (x);       \
    if (rc_) return rc_; \
  } while (0)

static int tsm_check_sizes(const tsm *m, const char *what, ts_err *e) {
  if (m->acfg.Cin != m->ecfg.C)
    return err_set(e, TS_EFORMAT, "%s: adapter input_size %lld differs from the encoder's hidden_size %lld", what,
                   (long long)m->acfg.Cin, (long long)m->ecfg.C);
  if (m->acfg.Cout != m->lcfg.C)
    return err_set(e, TS_EFORMAT, "%s: adapter output_size %lld differs from the LLM's hidden_size %lld", what,
                   (long long)m->acfg.Cout, (long long)m->lcfg.C);
  return TS_OK;
}

/* Declares, allocates and binds the three parts; loads the tokenizer. f (may be NULL): the
 * weights file to be loaded, checked before allocating to hold at least as many parameters as
 * the config declares, so that a wrong size in config.json is an error, not a huge allocation. */
static int tsm_build(tsm *m, const char *tok_path, backend *be, int grads, int adam, const st_file *f,
                     const char *what, ts_err *e) {
  TRY(tsm_check_sizes(m, what, e));
  m->be = be;
  pset_init(&m->ps, be);
  TRY(enc_declare(&m->ps, "encoder.", &m->ecfg, e));
  TRY(adapter_declare(&m->ps, "adapter.", &m->acfg, e));
  if (m->ctc) {
    int64_t w[2] = {CTC_CHAR_VOCAB, m->ecfg.C}, b[1] = {CTC_CHAR_VOCAB};
    if ((m->i_ctc_w = pset_add(&m->ps, "ctc.weight", 2, w, 1, e)) < 0) return e->code;
    if ((m->i_ctc_b = pset_add(&m->ps, "ctc.bias", 1, b, 0, e)) < 0) return e->code;
  }
  TRY(qwen2_declare(&m->ps, "llm.", &m->lcfg, e));
  if (f && pset_count(&m->ps, "") > st_total_params(f))
    return err_set(e, TS_EFORMAT, "%s: the config declares %lld parameters, but %s holds only %lld: a size in it is wrong",
                   what, (long long)pset_count(&m->ps, ""), f->name, (long long)st_total_params(f));
  TRY(pset_alloc(&m->ps, grads, adam, e));
  TRY(enc_bind(&m->enc, &m->ps, "encoder.", &m->ecfg, e));
  TRY(adapter_bind(&m->adp, &m->ps, "adapter.", &m->acfg, e));
  TRY(qwen2_bind(&m->llm, &m->ps, "llm.", &m->lcfg, e));
  TRY(tok_load(tok_path, &m->tok, e));
  /* remember the tokenizer.json to copy on save */
  char tj[4096];
  struct stat st;
  if (stat(tok_path, &st) == 0 && S_ISDIR(st.st_mode))
    snprintf(tj, sizeof tj, "%s/tokenizer.json", tok_path);
  else
    snprintf(tj, sizeof tj, "%s", tok_path);
  if (!(m->tok_path = strdup(tj))) return err_set(e, TS_ENOMEM, "out of memory");
  m->audio_id = tok_audio_id(m->tok);
  m->im_end_id = tok_find(m->tok, "<|im_end|>");
  if (m->im_end_id < 0) return err_set(e, TS_EFORMAT, "%s: the tokenizer has no <|im_end|>", tok_path);
  if (tok_n_ids(m->tok) > m->lcfg.V)
    return err_set(e, TS_EFORMAT, "%s: %d token ids do not fit the LLM's vocab_size %lld (with <|audio|>)", tok_path,
                   tok_n_ids(m->tok), (long long)m->lcfg.V);
  return TS_OK;
}

static int tsm_read_prompt(tsm *m, const cJSON *cfg, const char *what, ts_err *e) {
  const cJSON *p = cJSON_GetObjectItemCaseSensitive(cfg, "prompt");
  const char *sys = NULL, *ins = TSM_DEFAULT_INSTRUCTION;
  if (p) {
    if (!cJSON_IsObject(p)) return err_set(e, TS_EFORMAT, "%s: \"prompt\" must be an object", what);
    const cJSON *js = cJSON_GetObjectItemCaseSensitive(p, "system");
    if (js && !cJSON_IsNull(js)) {
      if (!cJSON_IsString(js)) return err_set(e, TS_EFORMAT, "%s: prompt.system must be a string", what);
      sys = js->valuestring;
    }
    ins = jsonx_str(p, "instruction", 1, TSM_DEFAULT_INSTRUCTION, what, e);
    if (!ins) return TS_EFORMAT;
  }
  m->system = sys ? strdup(sys) : NULL;
  m->instruction = strdup(ins);
  m->silence = TSM_DEFAULT_SILENCE;
  const cJSON *in = cJSON_GetObjectItemCaseSensitive(cfg, "input");
  if (in && !cJSON_IsNull(in)) {
    if (!cJSON_IsObject(in)) return err_set(e, TS_EFORMAT, "%s: \"input\" must be an object", what);
    TRY(jsonx_num(in, "silence", &m->silence, 1, TSM_DEFAULT_SILENCE, what, e));
    if (!(m->silence >= 0 && m->silence <= 60))
      return err_set(e, TS_EFORMAT, "%s: input.silence = %g out of range (0..60 s)", what, m->silence);
  }
  return m->instruction ? TS_OK : err_set(e, TS_ENOMEM, "%s: out of memory", what);
}

static int tsm_section(const cJSON *cfg, const char *key, const char *what, const cJSON **out, ts_err *e) {
  *out = cJSON_GetObjectItemCaseSensitive(cfg, key);
  if (!*out || !cJSON_IsObject(*out)) return err_set(e, TS_EFORMAT, "%s: missing section \"%s\"", what, key);
  return TS_OK;
}

static int tsm_parse_config(tsm *m, const cJSON *cfg, const char *what, ts_err *e) {
  const cJSON *ej, *aj, *lj;
  char sub[1200];
  TRY(tsm_section(cfg, "encoder", what, &ej, e));
  TRY(tsm_section(cfg, "adapter", what, &aj, e));
  TRY(tsm_section(cfg, "llm", what, &lj, e));
  snprintf(sub, sizeof sub, "%s: encoder", what);
  TRY(enc_config_from_json(ej, sub, &m->ecfg, e));
  snprintf(sub, sizeof sub, "%s: adapter", what);
  TRY(adapter_cfg_from_json(aj, sub, &m->acfg, e));
  snprintf(sub, sizeof sub, "%s: llm", what);
  TRY(qwen2_cfg_from_json(lj, sub, &m->lcfg, e));
  const cJSON *cj = cJSON_GetObjectItemCaseSensitive(cfg, "ctc");
  if (cj && !cJSON_IsNull(cj)) {
    double w;
    if (!cJSON_IsObject(cj)) return err_set(e, TS_EFORMAT, "%s: \"ctc\" must be an object", what);
    TRY(jsonx_num(cj, "weight", &w, 1, 0.3, what, e));
    if (!(w >= 0 && w <= 1e6)) return err_set(e, TS_EFORMAT, "%s: ctc.weight = %g must be in [0, 1e6]", what, w);
    m->ctc = 1;
    m->ctc_weight = (float)w;
  }
  m->enc_json = cJSON_Duplicate(ej, 1);
  if (!m->enc_json) return err_set(e, TS_ENOMEM, "%s: out of memory", what);
  return tsm_read_prompt(m, cfg, what, e);
}

/* A tensor of f under "llm." or "adapter." that the model does not declare means config.json
 * describes a smaller model than the weights (e.g. fewer layers): an error, not weights
 * silently left out. (The encoder's file formats carry tensors we do not use, e.g. a
 * quantizer's, and a CTC head may be dropped from the config.) */
static int tsm_check_unused(const tsm *m, const st_file *f, const char *cfg_path, ts_err *e) {
  static const char *const prefixes[] = {"llm.", "adapter."};
  for (int i = 0; i < f->n_tensors; i++)
    for (int k = 0; k < 2; k++) {
      const char *tn = f->tensors[i].name;
      if (!strncmp(tn, prefixes[k], strlen(prefixes[k])) && pset_find(&m->ps, tn) < 0)
        return err_set(e, TS_EFORMAT, "%s: holds tensor %s, which the model of %s does not have (a size or layer "
                       "count there disagrees with the weights)", f->name, tn, cfg_path);
    }
  return TS_OK;
}

int tsm_load(const char *dir, backend *be, int grads, int adam, tsm **out, ts_err *e) {
  *out = NULL;
  tsm *m = calloc(1, sizeof *m);
  if (!m) return err_set(e, TS_ENOMEM, "%s: out of memory", dir);
  char path[4096], tpath[4096];
  snprintf(path, sizeof path, "%s/config.json", dir);
  cJSON *cfg = NULL;
  int rc = jsonx_load(path, &cfg, e);
  if (!rc) rc = tsm_parse_config(m, cfg, path, e);
  cJSON_Delete(cfg);
  snprintf(tpath, sizeof tpath, "%s/tokenizer.json", dir);
  st_file *f = NULL;
  char stpath[4096];
  snprintf(stpath, sizeof stpath, "%s/model.safetensors", dir);
  if (!rc) rc = st_open(stpath, &f, e);
  if (!rc) rc = tsm_build(m, tpath, be, grads, adam, f, path, e);
  if (!rc) rc = enc_load(&m->enc, f, "encoder.", e);
  if (!rc) rc = pset_load_st(&m->ps, f, "adapter.", "adapter.", NULL, NULL, e);
  if (!rc && m->ctc) rc = pset_load_st(&m->ps, f, "ctc.", "ctc.", NULL, NULL, e);
  if (!rc) rc = pset_load_st(&m->ps, f, "llm.", "llm.", NULL, NULL, e);
  if (!rc) rc = tsm_check_unused(m, f, path, e);
  st_close(f);
  if (rc) {
    tsm_free(m);
    return rc;
  }
  *out = m;
  return TS_OK;
}

/* N(0, std) for the adapter's matrices, zero biases */
static int tsm_init_prefix(pset *ps, const char *prefix, float std, uint64_t seed, ts_err *e) {
  size_t lp = strlen(prefix);
  float *hw = pset_host_begin(ps, e);
  if (!hw) return e->code;
  for (int i = 0; i < ps->n; i++) {
    if (strncmp(ps->v[i].name, prefix, lp)) continue;
    float *w = hw + ps->v[i].off;
    philox_rng r;
    philox_init(&r, seed, (uint64_t)i);
    int bias = ps->v[i].ndim == 1;
    for (int64_t j = 0; j < ps->v[i].n; j++) w[j] = bias ? 0.0f : std * philox_normal(&r);
  }
  return pset_host_end(ps, hw, 1, e);
}

int tsm_assemble(const char *llm_dir, const char *enc_dir, const adapter_cfg *acfg, uint64_t seed, backend *be,
                 int grads, int adam, tsm **out, ts_err *e) {
  *out = NULL;
  tsm *m = calloc(1, sizeof *m);
  if (!m) return err_set(e, TS_ENOMEM, "out of memory");
  char path[4096];
  int rc;
  snprintf(path, sizeof path, "%s/config.json", llm_dir);
  rc = qwen2_cfg_load(path, &m->lcfg, e);
  if (!rc) rc = enc_config_load(enc_dir, &m->ecfg, e);
  snprintf(path, sizeof path, "%s/config.json", enc_dir);
  if (!rc) rc = jsonx_load(path, &m->enc_json, e);
  if (!rc) {
    /* keep the preprocessor's normalisation in our single config */
    cJSON_DeleteItemFromObject(m->enc_json, "do_normalize");
    cJSON_AddBoolToObject(m->enc_json, "do_normalize", m->ecfg.do_normalize);
    m->acfg = *acfg;
    m->acfg.Cin = m->ecfg.C;
    m->acfg.Cout = m->lcfg.C;
    if (m->acfg.k < 1) m->acfg.k = 5;
    if (m->acfg.H < 1) m->acfg.H = 2048;
    m->instruction = strdup(TSM_DEFAULT_INSTRUCTION);
    m->silence = TSM_DEFAULT_SILENCE;
    rc = tsm_build(m, llm_dir, be, grads, adam, NULL, llm_dir, e);
  }
  if (!rc) rc = enc_load_file(&m->enc, enc_dir, e);
  snprintf(path, sizeof path, "%s/model.safetensors", llm_dir);
  if (!rc) rc = pset_load_file(&m->ps, path, "", "llm.", e);
  if (!rc) rc = tsm_init_prefix(&m->ps, "adapter.", 0.02f, seed, e);
  if (rc) {
    tsm_free(m);
    return rc;
  }
  *out = m;
  return TS_OK;
}

int tsm_new(const cJSON *config, const char *tokenizer_path, uint64_t seed, float init_std, backend *be, int grads,
            int adam, tsm **out, ts_err *e) {
  *out = NULL;
  tsm *m = calloc(1, sizeof *m);
  if (!m) return err_set(e, TS_ENOMEM, "out of memory");
  int rc = tsm_parse_config(m, config, "model config", e);
  if (!rc) rc = tsm_build(m, tokenizer_path, be, grads, adam, NULL, "model config", e);
  if (!rc) rc = pset_init_normal(&m->ps, init_std, seed, e);
  if (rc) {
    tsm_free(m);
    return rc;
  }
  *out = m;
  return TS_OK;
}

int tsm_save(tsm *m, const char *dir, int as_bf16, ts_err *e) {
  TRY(afile_mkdirs(dir, e));
  cJSON *cfg = cJSON_CreateObject(), *a = cJSON_CreateObject(), *l = cJSON_CreateObject(),
        *p = cJSON_CreateObject();
  int rc = (!cfg || !a || !l || !p) ? err_set(e, TS_ENOMEM, "%s: out of memory", dir) : TS_OK;
  if (!rc) rc = adapter_cfg_to_json(&m->acfg, a, e);
  if (!rc) rc = qwen2_cfg_to_json(&m->lcfg, l, e);
  if (!rc) {
    cJSON_AddStringToObject(cfg, "tsasr_version", TSASR_VERSION);
    cJSON_AddItemToObject(cfg, "encoder", cJSON_Duplicate(m->enc_json, 1));
    cJSON_AddItemToObject(cfg, "adapter", a);
    cJSON_AddItemToObject(cfg, "llm", l);
    if (m->system) cJSON_AddStringToObject(p, "system", m->system);
    cJSON_AddStringToObject(p, "instruction", m->instruction ? m->instruction : "");
    cJSON_AddItemToObject(cfg, "prompt", p);
    cJSON_AddNumberToObject(cJSON_AddObjectToObject(cfg, "input"), "silence", m->silence);
    if (m->ctc) {
      cJSON *cc = cJSON_AddObjectToObject(cfg, "ctc");
      cJSON_AddNumberToObject(cc, "weight", m->ctc_weight);
      cJSON_AddStringToObject(cc, "vocab", "chars");
    }
    a = l = p = NULL;
    char path[4096];
    snprintf(path, sizeof path, "%s/config.json", dir);
    rc = jsonx_save(path, cfg, e);
    if (!rc) {
      snprintf(path, sizeof path, "%s/model.safetensors", dir);
      st_kv meta[1] = {{"format", "pt"}};
      rc = pset_save_file(&m->ps, path, as_bf16, meta, 1, e);
    }
    if (!rc) {
      char *json = NULL;
      size_t jn = 0;
      rc = afile_read(m->tok_path, &json, &jn, e);
      if (rc) err_prefix(e, "saving the tokenizer (only a tokenizer.json can be copied)");
      snprintf(path, sizeof path, "%s/tokenizer.json", dir);
      if (!rc) rc = afile_write(path, json, jn, e);
      free(json);
    }
  }
  cJSON_Delete(cfg);
  cJSON_Delete(a);
  cJSON_Delete(l);
  cJSON_Delete(p);
  return rc;
}

void tsm_free(tsm *m) {
  if (!m) return;
  cJSON_Delete(m->enc_json);
  free(m->system);
  free(m->instruction);
  free(m->tok_path);
  if (m->ps.v) pset_free(&m->ps);
  if (m->tok) tok_free(m->tok);
  free(m);
}

int tsm_describe(const tsm *m, int batch, double seconds, char *buf, size_t n) {
  int64_t pe = pset_count(&m->ps, "encoder."), pa = pset_count(&m->ps, "adapter."), pl = pset_count(&m->ps, "llm.");
  enc_info ei;
  memset(&ei, 0, sizeof ei);
  int64_t samples = (int64_t)(seconds * 16000);
  enc_info_get(&m->ecfg, m->ps.be, batch, samples, &ei, NULL);
  int64_t audio_tok = ei.frames / m->acfg.k, T = audio_tok + 160; /* + prompt and response */
  const qwen2_cfg *c = &m->lcfg;
  int64_t per_tok = 4 * c->C + 2 * c->Hq * c->D + 2 * c->Hkv * c->D + c->Hq + 3 * c->F + 2;
  int64_t llm_act = (int64_t)batch * T * (c->L * per_tok + 2 * c->C) * 4;
  int64_t total = pe + pa + pl;
  char ed[256];
  enc_describe(&m->ecfg, ed, sizeof ed);
  return snprintf(buf, n,
                  "encoder: %s\n  %lld parameters (%.1f M)\n"
                  "adapter: %s, %d frames -> 1, %lld -> %lld%s\n  %lld parameters (%.2f M)\n"
                  "llm: qwen2, %lld layers, hidden %lld, %lld heads / %lld kv heads, mlp %lld, vocab %lld, %s head\n"
                  "  %lld parameters (%.1f M)\n"
                  "total: %lld parameters (%.1f M); weights %.1f MiB (f32)\n"
                  "training (batch %d x %.0f s, ~%lld LLM tokens each): weights+grads+AdamW %.1f MiB, "
                  "activations ~%.1f MiB (encoder %.1f, LLM %.1f)\n",
                  ed, (long long)pe, pe / 1e6, m->acfg.kind == ADAPTER_MLP ? "concat + Linear-ReLU-Linear" : "concat + Linear",
                  m->acfg.k, (long long)(m->acfg.k * m->acfg.Cin), (long long)m->acfg.Cout, "", (long long)pa, pa / 1e6,
                  (long long)c->L, (long long)c->C, (long long)c->Hq, (long long)c->Hkv, (long long)c->F, (long long)c->V,
                  c->tied ? "tied" : "untied", (long long)pl, pl / 1e6, (long long)total, total / 1e6,
                  total * 4.0 / 1048576, batch, seconds, (long long)T, total * 16.0 / 1048576,
                  (ei.act_bytes + llm_act) / 1048576.0, ei.act_bytes / 1048576.0, llm_act / 1048576.0);
}
