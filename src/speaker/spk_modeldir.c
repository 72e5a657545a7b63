/* spk_modeldir.c — speaker model directories: config.json + model.safetensors (spk_model.h). */
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>

#include "base/afile.h"
#include "base/jsonx.h"
#include "speaker/spk_model.h"
#include "tensor/params_io.h"

int spk_model_save(const spk_model *m, const char *dir, const cJSON *extra, ts_err *e) {
  int rc = afile_mkdirs(dir, e);
  if (rc) return err_prefix(e, "speaker model %s", dir);
  cJSON *j = cJSON_CreateObject();
  if (!j) return err_set(e, TS_ENOMEM, "speaker model %s: out of memory", dir);
  if ((rc = spk_cfg_to_json(&m->c, j, e))) goto done;
  if (extra) {
    cJSON *x = cJSON_Duplicate(extra, 1);
    if (!x || !cJSON_AddItemToObject(j, "train", x)) {
      cJSON_Delete(x);
      rc = err_set(e, TS_ENOMEM, "speaker model %s: out of memory", dir);
      goto done;
    }
  }
  char path[4200];
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  const st_kv meta[1] = {{"format", SPK_MODEL_KIND}};
  if ((rc = pset_save_file(&m->ps, path, 0, meta, 1, e))) goto done;
  snprintf(path, sizeof path, "%s/config.json", dir);
  rc = jsonx_save(path, j, e);
done:
  cJSON_Delete(j);
  return rc;
}

int spk_model_load(spk_model *m, const char *dir, backend *be, ts_err *e) {
  memset(m, 0, sizeof *m);
  struct stat st;
  if (stat(dir, &st) != 0 || !S_ISDIR(st.st_mode))
    return err_set(e, TS_EIO, "speaker model %s: no such directory (train one with: tsasr speaker train)", dir);
  char path[4200], what[4300];
  snprintf(path, sizeof path, "%s/config.json", dir);
  if (stat(path, &st) != 0)
    return err_set(e, TS_EIO, "speaker model %s: config.json is missing (not a speaker model directory)", dir);
  cJSON *j = NULL;
  int rc = jsonx_load(path, &j, e);
  if (rc) return rc;
  spk_cfg c;
  snprintf(what, sizeof what, "%s", path);
  rc = spk_cfg_from_json(j, what, &c, e);
  cJSON_Delete(j);
  if (rc) return rc;
  if ((rc = spk_model_init(m, &c, be, 0, 0, e))) return err_prefix(e, "speaker model %s", dir);
  snprintf(path, sizeof path, "%s/model.safetensors", dir);
  if (stat(path, &st) != 0) {
    spk_model_free(m);
    return err_set(e, TS_EIO, "speaker model %s: model.safetensors is missing", dir);
  }
  if ((rc = pset_load_file(&m->ps, path, "", "", e))) {
    spk_model_free(m);
    return rc;
  }
  return TS_OK;
}
