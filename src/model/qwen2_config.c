/* qwen2_config.c — Qwen2 configuration from and to Hugging Face config.json. */
#include <float.h>
#include <string.h>

#include "base/jsonx.h"
#include "model/qwen2.h"

/* Largest vocab, hidden or intermediate size and layer count accepted: beyond these a config is
 * corrupt, and the parameter count would overflow or ask for terabytes. */
#define QWEN2_MAX_SIZE (1 << 24)
#define QWEN2_MAX_LAYERS 1000

int qwen2_cfg_from_json(const cJSON *j, const char *what, qwen2_cfg *c, ts_err *e) {
  int64_t V, C, L, H, Hkv, F, D, ctx;
  double eps, theta;
  int tied;
  memset(c, 0, sizeof *c);
  if (!cJSON_IsObject(j)) return err_set(e, TS_EFORMAT, "%s: the LLM config is not a JSON object", what);
  const char *mt = jsonx_str(j, "model_type", 1, "qwen2", what, e);
  if (!mt) return e->code;
  if (strcmp(mt, "qwen2"))
    return err_set(e, TS_EFORMAT, "%s: model_type \"%s\" is not qwen2", what, mt);
  int rc;
  if ((rc = jsonx_int(j, "vocab_size", &V, 0, 0, what, e))) return rc;
  if ((rc = jsonx_int(j, "hidden_size", &C, 0, 0, what, e))) return rc;
  if ((rc = jsonx_int(j, "num_hidden_layers", &L, 0, 0, what, e))) return rc;
  if ((rc = jsonx_int(j, "num_attention_heads", &H, 0, 0, what, e))) return rc;
  if ((rc = jsonx_int(j, "num_key_value_heads", &Hkv, 1, H, what, e))) return rc;
  if ((rc = jsonx_int(j, "intermediate_size", &F, 0, 0, what, e))) return rc;
  if ((rc = jsonx_num(j, "rms_norm_eps", &eps, 1, 1e-6, what, e))) return rc;
  if ((rc = jsonx_num(j, "rope_theta", &theta, 1, 10000.0, what, e))) return rc;
  if ((rc = jsonx_bool(j, "tie_word_embeddings", &tied, 1, 0, what, e))) return rc;
  if ((rc = jsonx_int(j, "max_position_embeddings", &ctx, 1, QWEN2_DEFAULT_CTX, what, e))) return rc;
  if (V < 1 || C < 1 || L < 0 || H < 1 || Hkv < 1 || F < 1)
    return err_set(e, TS_EFORMAT, "%s: sizes must be positive", what);
  if (V > QWEN2_MAX_SIZE || C > QWEN2_MAX_SIZE || F > QWEN2_MAX_SIZE || H > C)
    return err_set(e, TS_EFORMAT, "%s: vocab_size %lld, hidden_size %lld, intermediate_size %lld or "
                   "num_attention_heads %lld out of range (sizes up to %d, heads up to hidden_size)", what,
                   (long long)V, (long long)C, (long long)F, (long long)H, QWEN2_MAX_SIZE);
  if (L > QWEN2_MAX_LAYERS)
    return err_set(e, TS_EFORMAT, "%s: num_hidden_layers = %lld out of range (0..%d)", what, (long long)L,
                   QWEN2_MAX_LAYERS);
  if (ctx < 2 || ctx > QWEN2_MAX_SIZE)
    return err_set(e, TS_EFORMAT, "%s: max_position_embeddings = %lld out of range (2..%d)", what, (long long)ctx,
                   QWEN2_MAX_SIZE);
  if (!(eps > 0 && eps < 1 && (float)eps > 0))
    return err_set(e, TS_EFORMAT, "%s: rms_norm_eps = %g must be in (0, 1)", what, eps);
  if (!(theta > 0 && theta <= FLT_MAX))
    return err_set(e, TS_EFORMAT, "%s: rope_theta = %g must be a positive float", what, theta);
  if (C % H) return err_set(e, TS_EFORMAT, "%s: hidden_size %lld is not a multiple of num_attention_heads %lld", what,
                            (long long)C, (long long)H);
  if (H % Hkv)
    return err_set(e, TS_EFORMAT, "%s: num_attention_heads %lld is not a multiple of num_key_value_heads %lld", what,
                   (long long)H, (long long)Hkv);
  if ((rc = jsonx_int(j, "head_dim", &D, 1, C / H, what, e))) return rc;
  if (D != C / H) return err_set(e, TS_EUNSUP, "%s: head_dim %lld differs from hidden_size/heads", what, (long long)D);
  if (D % 2) return err_set(e, TS_EFORMAT, "%s: head dim %lld must be even for RoPE", what, (long long)D);
  const char *act = jsonx_str(j, "hidden_act", 1, "silu", what, e);
  if (!act) return e->code;
  if (strcmp(act, "silu")) return err_set(e, TS_EUNSUP, "%s: hidden_act \"%s\" (only silu)", what, act);
  const cJSON *rs = cJSON_GetObjectItemCaseSensitive(j, "rope_scaling");
  if (rs && !cJSON_IsNull(rs)) return err_set(e, TS_EUNSUP, "%s: rope_scaling is not supported", what);
  int sw = 0;
  if ((rc = jsonx_bool(j, "use_sliding_window", &sw, 1, 0, what, e))) return rc;
  if (sw) return err_set(e, TS_EUNSUP, "%s: use_sliding_window is not supported", what);
  c->V = V, c->C = C, c->L = L, c->Hq = H, c->Hkv = Hkv, c->D = D, c->F = F;
  c->eps = (float)eps, c->theta = (float)theta, c->tied = tied;
  c->ctx = ctx;
  return TS_OK;
}

int qwen2_cfg_load(const char *path, qwen2_cfg *c, ts_err *e) {
  cJSON *j;
  int rc = jsonx_load(path, &j, e);
  if (rc) return rc;
  rc = qwen2_cfg_from_json(j, path, c, e);
  cJSON_Delete(j);
  return rc;
}

int qwen2_cfg_to_json(const qwen2_cfg *c, cJSON *j, ts_err *e) {
  int ok = cJSON_AddStringToObject(j, "model_type", "qwen2") && cJSON_AddNumberToObject(j, "vocab_size", (double)c->V) &&
           cJSON_AddNumberToObject(j, "hidden_size", (double)c->C) &&
           cJSON_AddNumberToObject(j, "num_hidden_layers", (double)c->L) &&
           cJSON_AddNumberToObject(j, "num_attention_heads", (double)c->Hq) &&
           cJSON_AddNumberToObject(j, "num_key_value_heads", (double)c->Hkv) &&
           cJSON_AddNumberToObject(j, "intermediate_size", (double)c->F) &&
           cJSON_AddNumberToObject(j, "rms_norm_eps", c->eps) && cJSON_AddNumberToObject(j, "rope_theta", c->theta) &&
           cJSON_AddBoolToObject(j, "tie_word_embeddings", c->tied) && cJSON_AddStringToObject(j, "hidden_act", "silu") &&
           cJSON_AddNumberToObject(j, "max_position_embeddings", (double)qwen2_ctx(c));
  return ok ? TS_OK : err_set(e, TS_ENOMEM, "qwen2 config: out of memory");
}

int64_t qwen2_ctx(const qwen2_cfg *c) { return c->ctx > 0 ? c->ctx : QWEN2_DEFAULT_CTX; }

int64_t qwen2_param_count(const qwen2_cfg *c) {
  int64_t layer = c->C * 2 + (c->Hq * c->D) * c->C + c->Hq * c->D + 2 * ((c->Hkv * c->D) * c->C + c->Hkv * c->D) +
                  c->C * c->Hq * c->D + 3 * c->C * c->F;
  return c->V * c->C * (c->tied ? 1 : 2) + c->L * layer + c->C;
}
