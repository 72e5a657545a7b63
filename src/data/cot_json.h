/* cot_json.h — cot_facts as JSON, for the workbench, Lua bindings and fixture files:
 *   {"enroll_dur":3,"silence_dur":3,"mix_dur":14.95,"total_dur":20.95,"enroll_gender":"male",
 *    "target":0,"speakers":[{"gender":"male","start":6,"end":9.04,"score":0.7,"level":4},
 *                           {"gender":"female","start":6,"end":20.95,"score":0.3,"level":2}]}
 * Reading: total_dur defaults to the sum of the three parts; a speaker's level defaults to
 * cot_level(score); score may be left out when level is given (it becomes (level - 0.5) / 5,
 * the middle of the level's interval, which only matters for tie-breaking); target is 0-based;
 * genders are "male"/"female" (also "m"/"f"). The result is validated (cot_facts_validate in
 * level mode), so a bad file is reported with its key, never written as a false CoT. */
#ifndef TS_COT_JSON_H
#define TS_COT_JSON_H

#include <cjson/cJSON.h>

#include "base/err.h"
#include "data/cot.h"

/* what names the source in messages (e.g. "manifest.jsonl: line 4"). */
int cot_facts_from_json(const cJSON *j, const char *what, cot_facts *f, ts_err *e);
/* A new JSON object with every field written (caller frees with cJSON_Delete); NULL on OOM.
 * In memory the numbers are exact; cJSON's printer keeps about 15 significant digits. */
cJSON *cot_facts_to_json(const cot_facts *f);

#endif
