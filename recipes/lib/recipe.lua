-- recipe.lua — helpers shared by the recipes: resolving a configuration from defaults and the
-- `args` table of `tsasr run` (unknown keys and wrong types are errors naming the key),
-- printing it (--dry-run), stage chaining, run directories and small utilities.
local ts = require "tsasr"
local R = {}

-- edit distance for "did you mean"
local function distance(a, b)
  local d = {}
  for i = 0, #a do d[i] = {[0] = i} end
  for j = 0, #b do d[0][j] = j end
  for i = 1, #a do
    for j = 1, #b do
      local c = a:byte(i) == b:byte(j) and 0 or 1
      d[i][j] = math.min(d[i - 1][j] + 1, d[i][j - 1] + 1, d[i - 1][j - 1] + c)
    end
  end
  return d[#a][#b]
end

local function suggest(key, known)
  local best, bd = nil, math.huge
  for k in pairs(known) do
    local dd = distance(key, k)
    if dd < bd then best, bd = k, dd end
  end
  if best and bd <= math.max(2, #key // 3) then return best end
end

-- "a whole number >= 1", "a number in [0, 1]", "a number > 0": what a number option takes
local function range_text(item)
  local what = item.int and "a whole number" or "a number"
  if item.min and item.max then return string.format("%s in [%s, %s]", what, item.min, item.max) end
  if item.gt then return string.format("%s > %s", what, item.gt) end
  if item.min then return string.format("%s >= %s", what, item.min) end
  if item.max then return string.format("%s <= %s", what, item.max) end
  return "a finite number"
end

-- Checks a number option against its item's range (int, min, max: inclusive; gt: exclusive)
-- and returns it (a whole float as an integer); every number must be finite. Other values
-- pass unchanged.
local function check_range(name, k, item, v)
  if type(v) ~= "number" then return v end
  local bad = v ~= v or v == math.huge or v == -math.huge
  if not bad and item.int then
    local i = math.tointeger(v)
    if i then v = i else bad = true end
  end
  bad = bad or (item.min and v < item.min) or (item.max and v > item.max) or (item.gt and v <= item.gt)
  if bad then
    error(string.format("%s: option '%s' must be %s, got %s", name, k, range_text(item), tostring(v)), 0)
  end
  return v
end

-- A configuration item: {default, "help"} or {default, "help", choices = {...}} or
-- {default, "help", type = "number|auto"}; a number item may carry its range: int = true (a
-- whole number), min, max (inclusive), gt (exclusive lower bound).
-- R.config(name, spec, overrides) -> cfg: every key of overrides must be in spec; types follow
-- the default's type (a default "auto" also takes a number); choices and ranges are checked
-- (defaults too, so a recipe's own default out of its range is an error).
function R.config(name, spec, overrides)
  overrides = overrides or {}
  local cfg = {}
  for k, item in pairs(spec) do cfg[k] = check_range(name, k, item, item[1]) end
  local keys = {}
  for k in pairs(overrides) do keys[#keys + 1] = k end
  table.sort(keys)
  for _, k in ipairs(keys) do
    local v = overrides[k]
    if k ~= "dry_run" then
      local item = spec[k]
      if not item then
        local s = suggest(k, spec)
        error(string.format("%s: unknown option '%s'%s (try --dry-run to list the options)", name, k,
                            s and (" (did you mean '" .. s .. "'?)") or ""), 0)
      end
      local def, want = item[1], item.type
      if not want then
        if def == "auto" then want = "number|auto"
        elseif def == nil then want = "string"
        else want = type(def) end
      end
      local ok = want == type(v) or (want == "number|auto" and (type(v) == "number" or v == "auto"))
        or (want == "string" and type(v) == "number") -- "key=123" for a string option
      if not ok then
        error(string.format("%s: option '%s' must be a %s, got %s (%s)", name, k, want:gsub("|", " or "),
                            type(v), tostring(v)), 0)
      end
      if want == "string" and type(v) == "number" then v = tostring(v) end
      if item.choices then
        local found = false
        for _, c in ipairs(item.choices) do found = found or c == v end
        if not found then
          error(string.format("%s: option '%s' must be one of %s, got '%s'", name, k,
                              table.concat(item.choices, ", "), tostring(v)), 0)
        end
      end
      cfg[k] = check_range(name, k, item, v)
    end
  end
  cfg.dry_run = overrides.dry_run == true
  return cfg
end

-- Merges several specs into one (pipeline); later ones must not redefine a key differently.
function R.merge(...)
  local out = {}
  for _, spec in ipairs({...}) do
    for k, v in pairs(spec) do out[k] = v end
  end
  return out
end

-- Picks the keys of spec from cfg (a stage's view of a pipeline configuration).
function R.pick(spec, cfg)
  local out = {}
  for k in pairs(spec) do out[k] = cfg[k] end
  return out
end

local function fmt(v)
  if type(v) == "string" then return string.format("%q", v) end
  if type(v) == "number" and math.type(v) == "float" then
    local s = string.format("%.10g", v)
    if not s:find("[%.eEn]") then s = s .. ".0" end
    return s
  end
  return tostring(v)
end

-- Prints "name.key = value  -- help" lines, sorted (what --dry-run shows).
function R.print_config(name, spec, cfg)
  local keys = {}
  for k in pairs(spec) do keys[#keys + 1] = k end
  table.sort(keys)
  print(string.format("-- %s: resolved configuration", name))
  for _, k in ipairs(keys) do
    local v = cfg[k]
    print(string.format("%s.%s = %s%s", name, k, fmt(v), spec[k][2] and ("  -- " .. spec[k][2]) or ""))
  end
end

-- Prints the configuration and returns true in a dry run; stages return right after.
function R.dry_run(name, spec, cfg)
  if cfg.dry_run then
    R.print_config(name, spec, cfg)
    return true
  end
  return false
end

-- An error that already carries its traceback (the runner prints it as it is).
local traced = {__tostring = function(e) return e.msg end}

-- Runs another recipe file (a stage) with the given args table; returns what it returns.
-- An error inside it is raised again with the stage's own traceback.
function R.stage(dir, file, stage_args)
  local path = dir .. "/" .. file
  local chunk, err = loadfile(path)
  if not chunk then error(err, 0) end
  local saved = _G.args
  _G.args = stage_args
  local ok, res = xpcall(chunk, function(m)
    if getmetatable(m) == traced then return m end
    return setmetatable({msg = debug.traceback(tostring(m), 2)}, traced)
  end)
  _G.args = saved
  if not ok then error(res, 0) end
  return res
end

-- The folder of the running recipe (for R.stage).
function R.here()
  local src = debug.getinfo(2, "S").source
  return (src:sub(1, 1) == "@" and src:sub(2) or src):match("^(.*)/[^/]*$") or "."
end

-- Joins path parts.
function R.path(...)
  return table.concat({...}, "/")
end

-- Fails with a message naming a missing input and what to do about it.
function R.need(path, hint)
  if not ts.exists(path) then
    error(string.format("missing input: %s (%s)", path, hint), 0)
  end
  return path
end

-- Progress-aware step logger for trainers: returns an on_step callback printing every n steps
-- when progress bars are off.
function R.every(n, fn)
  return function(info)
    if fn and info.step % n == 0 then return fn(info) end
  end
end

-- Writes the resolved configuration next to a stage's outputs.
function R.save_config(dir, name, cfg)
  ts.mkdirs(dir)
  local c = {}
  for k, v in pairs(cfg) do if type(v) ~= "function" and type(v) ~= "userdata" then c[k] = v end end
  ts.json.write(dir .. "/" .. name .. ".config.json", c)
end

return R
