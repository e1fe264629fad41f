-- locus.eval.charades: temporal grounding on Charades-STA.
--
-- --data is charades_sta_test.txt (or the folder that holds it): one sample per line,
--   AO8RW 0.0 6.9##a person is putting a book on a shelf.
-- video id, start and end in seconds, the sentence. --videos is the folder of the Charades videos
-- (VIDEO.mp4). A sample's id is "VIDEO:LINE". GroundingGPT's repository publishes no Charades prompt,
-- so the default asks for the span in the {t0, t1} form its answers take (fractions of the video's
-- duration, made seconds with the stream's duration); --prompt replaces it. Scored on the first
-- span: R@1 at IoU 0.3, 0.5, 0.7 and mIoU (locus.eval.score).
local dataset = require "locus.eval.dataset"

local charades = {}

charades.PROMPT = "At which time interval in the video can we see {text} occurring?"

local function samples(opts)
  local path = opts.data or error("charades-sta: needs --data (charades_sta_test.txt)", 0)
  if dataset.is_dir(path) then path = path .. "/charades_sta_" .. (opts.splits and opts.splits[1] or "test") .. ".txt" end
  local f, err = io.open(path, "rb")
  if not f then error(("%s: cannot open: %s"):format(path, err:gsub("^[^:]*: ", "")), 0) end
  local split = path:match("charades_sta_(%w+)%.txt$") or "test"
  local out, n = {}, 0
  for line in f:lines() do
    n = n + 1
    if line:match("%S") then
      local where = ("%s:%d"):format(path, n)
      local vid, t0, t1, sentence = line:match("^%s*(%S+)%s+(%S+)%s+(%S+)%s*##(.-)%s*$")
      t0, t1 = tonumber(t0), tonumber(t1)
      if not (vid and t0 and t1) then
        f:close()
        error(("%s: expected \"VIDEO START END##SENTENCE\""):format(where), 0)
      end
      if not (t0 >= 0 and t1 >= t0 and t1 < math.huge) then
        f:close()
        error(("%s: the span %s to %s is not 0 <= start <= end"):format(where, t0, t1), 0)
      end
      out[#out + 1] = { id = ("%s:%d"):format(vid, n), split = split, text = sentence:gsub("%.$", ""),
        video = dataset.media_path(opts.media, vid .. ".mp4", where), truth = { t0, t1 }, kind = "span" }
    end
  end
  f:close()
  return out
end

charades.task = { name = "charades-sta", kind = "span", prompt = charades.PROMPT, samples = samples }

return charades
